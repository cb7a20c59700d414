"""One bound camt `Ntry` (a pyiso20022 ReportEntry of any version) -> a StatementLine.

The bindings of different versions name their fields alike (`amt`, `cdt_dbt_ind`,
`ntry_dtls`...) but shape a few differently: `Sts` is a code up to .06 and a choice
(`Cd`/`Prtry`) later; `Chrgs` is a list of charges in .02 and one block of records
(`Rcrd`) later. Those differences are handled here, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from paycore.recon.model import (
    Counterparty,
    Direction,
    LineKind,
    LineStatus,
    MalformedStatement,
    StatementLine,
    Warnings,
    parse_amount,
)

_STATUS = {
    "BOOK": LineStatus.SUCCEEDED,
    "PDNG": LineStatus.PENDING,
    "INFO": LineStatus.PENDING,  # shown for information, not (yet) booked
    "FUTR": LineStatus.PENDING,
    "RJCT": LineStatus.FAILED,
}
# ISO external bank transaction codes (family / sub-family) that tell a line's kind.
_FEE_SUB_FAMILIES = frozenset({"CHRG", "FEES", "COMM", "COMT", "SUBS"})
_RECEIVED_TRANSFERS = frozenset({"RCDT", "RCHQ", "RCCN", "RRCT"})
_ISSUED_TRANSFERS = frozenset({"ICDT", "ICHQ", "ICCN", "IRCT"})
_ISSUED_DIRECT_DEBITS = "IDDT"
_RECEIVED_DIRECT_DEBITS = "RDDT"  # taken from our account by someone else
_NOT_PROVIDED = "NOTPROVIDED"  # the ISO placeholder for a missing EndToEndId


@dataclass(frozen=True, slots=True)
class _Entry:
    """What every line of one entry shares."""

    bound: Any  # the pyiso20022 ReportEntry
    currency: str
    sourceline: int
    where: str  # Ntry[3], for errors
    fallback_ref: str  # when the bank gives the entry no AcctSvcrRef
    common: dict[str, Any]
    warnings: Warnings | None = None


def entry_to_lines(
    entry: Any,
    *,
    entry_no: int,
    first_line_no: int,
    sourceline: int,
    where: str,
    header: Any,
    currency: str,
    warnings: Warnings | None = None,
) -> list[StatementLine]:
    """Map one entry of a statement in `currency` to its lines: one, or one per
    transaction of a batch booking (each with its own amount and references), numbered
    from `first_line_no`. `where` names the entry (`Ntry[3]`) in errors."""
    amount = _amount(entry.amt, currency, sourceline, f"{where}/Amt")
    direction = _direction(entry.cdt_dbt_ind)
    transactions = [tx for details in entry.ntry_dtls for tx in details.tx_dtls]
    context = _Entry(
        bound=entry,
        currency=currency,
        sourceline=sourceline,
        where=where,
        fallback_ref=str(entry.acct_svcr_ref or f"{header.id}:{entry_no}"),
        common={
            "booked_at": _booked_at(entry, header, sourceline, where),
            "business_date": _business_date(entry) or _statement_day(header),
            "status": _status(entry.sts, sourceline, where),
            "value_date": _value_date(entry.val_dt),
            "currency": currency,
        },
        warnings=warnings,
    )
    parts = _batch(transactions, amount, direction, context)
    if parts is None:  # one transaction, or a batch that states no amount per transaction
        details = transactions[0] if len(transactions) == 1 else None
        return [_line(context, details, first_line_no, amount, direction, batch_no=None)]
    return [
        _line(context, tx, first_line_no + offset, tx_amount, tx_direction, batch_no=offset + 1)
        for offset, (tx, tx_amount, tx_direction) in enumerate(parts)
    ]


def _line(
    context: _Entry,
    details: Any,
    line_no: int,
    amount: int,
    direction: Direction,
    *,
    batch_no: int | None,
) -> StatementLine:
    """A line of the entry: the whole of it, or the `batch_no`-th transaction of a batch."""
    single = batch_no is None
    entry = context.bound
    refs = details.refs if details is not None else None
    code = details.bk_tx_cd if details is not None else None
    code = code if code is not None else entry.bk_tx_cd
    own_ref = refs.acct_svcr_ref if refs is not None and refs.acct_svcr_ref else None
    if single:
        source_ref = str(entry.acct_svcr_ref or context.fallback_ref)
    else:
        source_ref = str(own_ref or f"{context.fallback_ref}:{batch_no}")
    raw = {"bank_transaction_code": _code_text(code)}
    if not single:
        raw["batch_entry"] = context.fallback_ref
    elif entry.rvsl_ind:
        raw["reversal"] = "true"
    batch = sum(len(d.tx_dtls) for d in entry.ntry_dtls) if single else 0
    if batch > 1:  # a batch that states no amount per transaction: one line for it all
        raw["batch_transactions"] = str(batch)
    return StatementLine(
        line_no=line_no,
        source_ref=source_ref,
        kind=_kind(code, direction),
        direction=direction,
        amount=amount,
        channel_txn_id=_channel_txn_id(entry if single else None, refs),
        reference=_reference(refs) or _creditor_reference(details),
        fee=_fee(entry if single else None, details, context),
        raw=raw,
        bank_kind=_code_text(code) or None,
        **_counter_value(entry if single else None, details, context.currency),
        **_parties(details, direction),
        **context.common,
    )


def _amount(value: Any, currency: str, sourceline: int, field: str) -> int:
    """A positive amount in the statement's currency: money is never mixed."""
    if value is None:
        raise MalformedStatement("the amount is missing", line=sourceline, field=field)
    if value.ccy != currency:
        raise MalformedStatement(
            f"an amount in {value.ccy} on an account in {currency}",
            line=sourceline,
            field=f"{field}/@Ccy",
        )
    amount = parse_amount(format(value.value, "f"), currency, line=sourceline, field=field)
    if amount <= 0:
        raise MalformedStatement("an amount must be positive", line=sourceline, field=field)
    return amount


def _direction(indicator: Any) -> Direction:
    return Direction.CREDIT if _code(indicator) == "CRDT" else Direction.DEBIT


def _batch(
    transactions: list[Any], amount: int, direction: Direction, context: _Entry
) -> list[tuple[Any, int, Direction]] | None:
    """A batch booking split into its transactions, each with its amount; the entry's
    amount must be what they add up to. None when it is not a batch, or a batch whose
    transactions state no amount of their own (then it stays one line)."""
    if len(transactions) < 2:
        return None
    stated = [_transaction_amount(tx) for tx in transactions]
    if all(value is None for value in stated):
        return None
    foreign = next((v.ccy for v in stated if v is not None and v.ccy != context.currency), None)
    if foreign is not None:
        # Splitting would put another currency's amounts on the account. The entry's own
        # amount, in the account's currency, is what moved: it stays one line.
        if context.warnings is not None:
            context.warnings.add(
                f"line {context.sourceline}, field {context.where}/NtryDtls/TxDtls/Amt/@Ccy: "
                f"its transactions are stated in {foreign}, not split into lines"
            )
        return None
    parts = []
    total = 0
    for number, (tx, value) in enumerate(zip(transactions, stated, strict=True), start=1):
        field = f"{context.where}/NtryDtls/TxDtls[{number}]/Amt"
        tx_amount = _amount(value, context.currency, context.sourceline, field)
        indicator = getattr(tx, "cdt_dbt_ind", None)
        tx_direction = _direction(indicator) if indicator is not None else direction
        total += tx_amount if tx_direction is direction else -tx_amount
        parts.append((tx, tx_amount, tx_direction))
    if total != amount:
        raise MalformedStatement(
            f"the entry's amount is {amount} (minor units), its transactions add up to {total}",
            line=context.sourceline,
            field=f"{context.where}/Amt",
        )
    return parts


def _transaction_amount(tx: Any) -> Any:
    """TxDtls/Amt (.03 and later), else AmtDtls/TxAmt/Amt (.02)."""
    own = getattr(tx, "amt", None)
    if own is not None:
        return own
    details = tx.amt_dtls
    if details is not None and details.tx_amt is not None:
        return details.tx_amt.amt
    return None


def _counter_value(entry: Any, details: Any, currency: str) -> dict[str, Any]:
    """The instructed amount in another currency (a payment converted by the bank), kept
    beside the line: from the transaction, else from the entry."""
    for owner in (details, entry):
        amounts = getattr(owner, "amt_dtls", None) if owner is not None else None
        instructed = amounts.instd_amt if amounts is not None else None
        value = instructed.amt if instructed is not None else None
        if value is not None and value.ccy != currency:
            text = format(value.value, "f")
            return {
                "counter_amount": parse_amount(text, value.ccy, field="AmtDtls/InstdAmt/Amt"),
                "counter_currency": value.ccy,
            }
    return {}


def _parties(details: Any, direction: Direction) -> dict[str, Any]:
    """Our account and the other side, from the transaction's related parties: on a
    credit we are the creditor (a virtual account, often) and the debtor paid us."""
    parties = details.rltd_pties if details is not None else None
    if parties is None:
        return {}
    if direction is Direction.CREDIT:
        ours, their_party, their_account = parties.cdtr_acct, parties.dbtr, parties.dbtr_acct
    else:
        ours, their_party, their_account = parties.dbtr_acct, parties.cdtr, parties.cdtr_acct
    found: dict[str, Any] = {}
    account = _account_id(ours)
    if account:
        found["account"] = account
    number, name = _account_id(their_account), _party_name(their_party)
    if number and name:
        found["counterparty"] = Counterparty(account_number=number, name=name)
    return found


def _account_id(account: Any) -> str | None:
    ident = account.id if account is not None else None
    if ident is None:
        return None
    if ident.iban:
        return str(ident.iban)
    return str(ident.othr.id) if ident.othr is not None and ident.othr.id else None


def _party_name(party: Any) -> str | None:
    """A PartyIdentification (up to .07) or a Party40Choice of one (later versions)."""
    if party is None:
        return None
    inner = getattr(party, "pty", None) or party
    name = getattr(inner, "nm", None)
    return str(name) if name else None


def _status(sts: Any, sourceline: int, where: str) -> LineStatus:
    if sts is None:  # only a statement's entry gets here without one: booked (camt_schema)
        return LineStatus.SUCCEEDED
    code = sts.value if hasattr(sts, "value") else (sts.cd or sts.prtry)
    status = _STATUS.get(str(code))
    if status is None:
        raise MalformedStatement(
            f"entry status {code!r} is not one of {sorted(_STATUS)}",
            line=sourceline,
            field=f"{where}/Sts",
        )
    return status


def _kind(code: Any, direction: Direction) -> LineKind:
    """Our kind of line from the ISO bank transaction code; what the code does not tell
    (a card payment, cash, a proprietary code, a direct debit taken from the account)
    is `other` on a debit, and the bank's own words are kept beside it (`bank_kind`)."""
    domain = code.domn if code is not None else None
    codes = domain.fmly if domain is not None else None
    family = codes.cd if codes is not None else None
    sub_family = codes.sub_fmly_cd if codes is not None else None
    credit = direction is Direction.CREDIT
    if sub_family in _FEE_SUB_FAMILIES:
        return LineKind.FEE
    if domain is not None and (domain.cd == "ACMT" or sub_family == "INTR"):
        return LineKind.OTHER
    if family in _RECEIVED_TRANSFERS:  # a payer's transfer in; on a debit, sent back
        return LineKind.PAYIN if credit else LineKind.REFUND
    if family in _ISSUED_TRANSFERS:  # our payout; on a credit, its return
        return LineKind.PAYOUT
    if family == _ISSUED_DIRECT_DEBITS:  # our collection; on a debit, paid back
        return LineKind.PAYIN if credit else LineKind.REFUND
    return LineKind.PAYIN if credit and family != _RECEIVED_DIRECT_DEBITS else LineKind.OTHER


def _code_text(code: Any) -> str:
    if code is None:
        return ""
    if code.domn is not None:
        family = code.domn.fmly
        if family is None:  # a Domn without its Fmly (kept as a warning)
            return str(code.domn.cd)
        return f"{code.domn.cd}/{family.cd}/{family.sub_fmly_cd}"
    return str(code.prtry.cd) if code.prtry is not None else ""


def _charge_records(charges: Any) -> list[Any]:
    if charges is None:
        return []
    if isinstance(charges, list):  # .02: a list of ChargesInformation6
        return charges
    if charges.rcrd:  # .03 and later: one block of records, maybe with a total
        return list(charges.rcrd)
    return [charges] if charges.ttl_chrgs_and_tax_amt is not None else []


def _fee(entry: Any, details: Any, context: _Entry) -> int:
    """The bank's charges on this line (the entry's, when the line is the whole entry,
    else its transaction's); charges credited back (CRDT) are not a fee."""
    records = _charge_records(entry.chrgs if entry is not None else None) or _charge_records(
        details.chrgs if details is not None else None
    )
    fee = 0
    for record in records:
        amount = getattr(record, "amt", None) or record.ttl_chrgs_and_tax_amt
        indicator = getattr(record, "cdt_dbt_ind", None)
        if indicator is not None and _code(indicator) == "CRDT":
            continue
        field = f"{context.where}/Chrgs/Amt"
        if amount.ccy != context.currency:
            raise MalformedStatement(
                f"charges in {amount.ccy} on an entry in {context.currency}",
                line=context.sourceline,
                field=f"{context.where}/Chrgs",
            )
        fee += parse_amount(
            format(amount.value, "f"), context.currency, line=context.sourceline, field=field
        )
    return fee


def _channel_txn_id(entry: Any, refs: Any) -> str | None:
    if refs is not None and (refs.tx_id or refs.acct_svcr_ref):
        return str(refs.tx_id or refs.acct_svcr_ref)
    return str(entry.acct_svcr_ref) if entry is not None and entry.acct_svcr_ref else None


def _reference(refs: Any) -> str | None:
    if refs is None or not refs.end_to_end_id or refs.end_to_end_id == _NOT_PROVIDED:
        return None
    return str(refs.end_to_end_id)


def _creditor_reference(details: Any) -> str | None:
    """The structured creditor reference (RmtInf/Strd/CdtrRefInf/Ref: an RF or QR
    reference), when the payer gave no EndToEndId of ours."""
    remittance = getattr(details, "rmt_inf", None) if details is not None else None
    for structured in getattr(remittance, "strd", None) or []:
        reference = structured.cdtr_ref_inf.ref if structured.cdtr_ref_inf is not None else None
        if reference:
            return str(reference)
    return None


def _business_date(entry: Any) -> date | None:
    """The booking date as the bank writes it (a booking at 21:40+02:00 on the 28th is
    the 28th); without a booking date, the value date; else None (the day of the line's
    time in the business timezone)."""
    for candidate in (entry.bookg_dt, entry.val_dt):
        if candidate is not None:
            written = candidate.dt if candidate.dt is not None else candidate.dt_tm
            return date(written.year, written.month, written.day)
    return None


def _code(value: Any) -> str:
    """A code bound as an enum (older versions) or as text (external code lists)."""
    return str(getattr(value, "value", value))


def _instant(value: Any) -> datetime:
    """A DateAndDateTime choice as a UTC instant: no offset means UTC; a date alone means
    12:00 UTC, which keeps its calendar date in every zone from UTC-11 to UTC+11."""
    if value.dt_tm is not None:
        return _utc(value.dt_tm)
    return datetime.combine(value.dt.to_date(), time(12), tzinfo=UTC)


def _utc(xml_datetime: Any) -> datetime:
    instant: datetime = xml_datetime.to_datetime()
    return instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)


def _booked_at(entry: Any, header: Any, sourceline: int, where: str) -> datetime:
    for candidate in (entry.bookg_dt, entry.val_dt):
        if candidate is not None:
            return _instant(candidate)
    day = _statement_day(header)
    if day is not None:
        return datetime.combine(day, time(12), tzinfo=UTC)
    created = getattr(header, "cre_dt_tm", None)
    if created is None:
        raise MalformedStatement(
            "an entry without a booking or value date, in a statement that does not cover "
            "a single day",
            line=sourceline,
            field=f"{where}/BookgDt",
        )
    return _utc(created)


def _statement_day(header: Any) -> date | None:
    """The one day a statement covers, when every date it states (its period, its
    balances) is that day: an entry that states no date of its own was booked then."""
    stated: set[date] = set()
    period = getattr(header, "fr_to_dt", None)
    if period is not None:
        stated.update((_calendar_date(period.fr_dt_tm), _calendar_date(period.to_dt_tm)))
    for balance in getattr(header, "bal", None) or []:
        written = balance.dt
        if written is not None:
            stated.add(_calendar_date(written.dt if written.dt is not None else written.dt_tm))
    return stated.pop() if len(stated) == 1 else None


def _calendar_date(written: Any) -> date:
    return date(written.year, written.month, written.day)


def _value_date(value: Any) -> date | None:
    if value is None:
        return None
    written = value.dt if value.dt is not None else value.dt_tm
    return date(written.year, written.month, written.day)
