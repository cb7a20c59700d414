"""One bound camt `Ntry` (a pyiso20022 ReportEntry of any version) -> a StatementLine.

The bindings of different versions name their fields alike (`amt`, `cdt_dbt_ind`,
`ntry_dtls`...) but shape a few differently: `Sts` is a code up to .06 and a choice
(`Cd`/`Prtry`) later; `Chrgs` is a list of charges in .02 and one block of records
(`Rcrd`) later. Those differences are handled here, and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from paycore.recon.model import (
    Counterparty,
    Direction,
    LineKind,
    LineStatus,
    MalformedStatement,
    StatementLine,
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
_RECEIVED_FAMILIES = frozenset({"RCDT", "RDDT", "RCHQ", "RCCN", "RRCT"})
_ISSUED_FAMILIES = frozenset({"ICDT", "IDDT", "ICHQ", "ICCN"})
_NOT_PROVIDED = "NOTPROVIDED"  # the ISO placeholder for a missing EndToEndId


def entry_to_line(entry: Any, position: int, sourceline: int, header: Any) -> StatementLine:
    """Map the `position`-th entry (1-based) of a statement whose header is `header`."""
    where = f"Ntry[{position}]"
    currency = entry.amt.ccy
    amount = parse_amount(
        format(entry.amt.value, "f"), currency, line=sourceline, field=f"{where}/Amt"
    )
    if amount <= 0:
        raise MalformedStatement("an entry's amount must be positive", line=sourceline)
    direction = Direction.CREDIT if entry.cdt_dbt_ind.value == "CRDT" else Direction.DEBIT
    details = _single_transaction(entry)
    refs = details.refs if details is not None else None
    fee = _fee(entry, details, currency, sourceline, where)
    raw = {"bank_transaction_code": _code_text(entry.bk_tx_cd)}
    if entry.rvsl_ind:
        raw["reversal"] = "true"
    if entry.ntry_dtls and details is None:
        raw["batch_transactions"] = str(sum(len(d.tx_dtls) for d in entry.ntry_dtls))
    return StatementLine(
        line_no=position,
        source_ref=entry.acct_svcr_ref or f"{header.id}:{position}",
        kind=_kind(entry.bk_tx_cd, direction),
        direction=direction,
        amount=amount,
        currency=currency,
        booked_at=_booked_at(entry, header),
        status=_status(entry.sts, sourceline, where),
        channel_txn_id=_channel_txn_id(entry, refs),
        reference=_reference(refs),
        fee=fee,
        value_date=_value_date(entry.val_dt),
        raw=raw,
        **_parties(details, direction),
    )


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


def _single_transaction(entry: Any) -> Any:
    """The entry's transaction details when it carries exactly one; a batch booking
    (several transactions in one entry) has no single reference to match on."""
    transactions = [tx for details in entry.ntry_dtls for tx in details.tx_dtls]
    return transactions[0] if len(transactions) == 1 else None


def _status(sts: Any, sourceline: int, where: str) -> LineStatus:
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
    domain = code.domn if code is not None else None
    family = domain.fmly.cd if domain is not None else None
    sub_family = domain.fmly.sub_fmly_cd if domain is not None else None
    if sub_family in _FEE_SUB_FAMILIES:
        return LineKind.FEE
    if domain is not None and (domain.cd == "ACMT" or sub_family == "INTR"):
        return LineKind.OTHER
    if family in _RECEIVED_FAMILIES:
        return LineKind.PAYIN if direction is Direction.CREDIT else LineKind.REFUND
    if family in _ISSUED_FAMILIES:
        return LineKind.PAYOUT
    return LineKind.PAYIN if direction is Direction.CREDIT else LineKind.PAYOUT


def _code_text(code: Any) -> str:
    if code is None:
        return ""
    if code.domn is not None:
        return f"{code.domn.cd}/{code.domn.fmly.cd}/{code.domn.fmly.sub_fmly_cd}"
    return str(code.prtry.cd) if code.prtry is not None else ""


def _charge_records(charges: Any) -> list[Any]:
    if charges is None:
        return []
    if isinstance(charges, list):  # .02: a list of ChargesInformation6
        return charges
    if charges.rcrd:  # .03 and later: one block of records, maybe with a total
        return list(charges.rcrd)
    return [charges] if charges.ttl_chrgs_and_tax_amt is not None else []


def _fee(entry: Any, details: Any, currency: str, sourceline: int, where: str) -> int:
    """The bank's charges on this entry (entry level, else its single transaction's);
    charges credited back (CRDT) are not a fee."""
    records = _charge_records(entry.chrgs) or _charge_records(
        details.chrgs if details is not None else None
    )
    fee = 0
    for record in records:
        amount = getattr(record, "amt", None) or record.ttl_chrgs_and_tax_amt
        indicator = getattr(record, "cdt_dbt_ind", None)
        if indicator is not None and indicator.value == "CRDT":
            continue
        if amount.ccy != currency:
            raise MalformedStatement(
                f"charges in {amount.ccy} on an entry in {currency}",
                line=sourceline,
                field=f"{where}/Chrgs",
            )
        fee += parse_amount(
            format(amount.value, "f"), currency, line=sourceline, field=f"{where}/Chrgs/Amt"
        )
    return fee


def _channel_txn_id(entry: Any, refs: Any) -> str | None:
    if refs is not None and (refs.tx_id or refs.acct_svcr_ref):
        return str(refs.tx_id or refs.acct_svcr_ref)
    return str(entry.acct_svcr_ref) if entry.acct_svcr_ref else None


def _reference(refs: Any) -> str | None:
    if refs is None or not refs.end_to_end_id or refs.end_to_end_id == _NOT_PROVIDED:
        return None
    return str(refs.end_to_end_id)


def _instant(value: Any) -> datetime:
    """A DateAndDateTime choice as a UTC instant: no offset means UTC; a date alone means
    12:00 UTC, which keeps its calendar date in every zone from UTC-11 to UTC+11."""
    if value.dt_tm is not None:
        return _utc(value.dt_tm)
    return datetime.combine(value.dt.to_date(), time(12), tzinfo=UTC)


def _utc(xml_datetime: Any) -> datetime:
    instant: datetime = xml_datetime.to_datetime()
    return instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)


def _booked_at(entry: Any, header: Any) -> datetime:
    for candidate in (entry.bookg_dt, entry.val_dt):
        if candidate is not None:
            return _instant(candidate)
    created = getattr(header, "cre_dt_tm", None)
    if created is None:
        raise MalformedStatement("an entry without a booking or value date")
    return _utc(created)


def _value_date(value: Any) -> date | None:
    if value is None:
        return None
    written = value.dt if value.dt is not None else value.dt_tm
    return date(written.year, written.month, written.day)
