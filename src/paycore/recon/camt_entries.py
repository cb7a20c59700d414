"""One camt `Ntry`, as lxml parsed it (copied into `camt_nodes.Node`s), -> its lines.

Read from the elements (libxml2 held the entry to its XSD as it parsed it, so what is read
has its type), not bound to dataclasses: binding every element of millions of entries
cost about 1 ms an entry, reading the few elements this needs a few microseconds.
Versions name their elements alike but shape a few differently: `Sts` is a code up to .06
and a choice (`Cd`/`Prtry`) later; `Chrgs` repeats with one charge each in .02 and is one
block of records (`Rcrd`) later; a transaction's amount is `TxDtls/Amt` from .03 and
`AmtDtls/TxAmt/Amt` in .02; a party is `Dbtr/Nm` up to .07 and `Dbtr/Pty/Nm` later.
Those differences are handled here and in `camt_fields.py` (what one element tells a
line), and nowhere else. The statement's header (read once
a statement) stays bound by xsdata (`camt.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from paycore.recon import camt_fields as fields
from paycore.recon import camt_nodes as nodes
from paycore.recon.model import (
    Direction,
    MalformedStatement,
    StatementLine,
    Warnings,
    parse_amount,
)


@dataclass(slots=True)  # not frozen: built once an entry, and frozen costs a call a field
class _Entry:
    """What every line of one entry shares."""

    element: nodes.Node
    tags: nodes.Tags
    currency: str
    sourceline: int
    where: str  # Ntry[3], for errors
    fallback_ref: str  # when the bank gives the entry no AcctSvcrRef
    common: dict[str, Any]
    warnings: Warnings | None = None


def entry_to_lines(
    entry: nodes.Node,
    *,
    tags: nodes.Tags,
    amount: nodes.Money,
    entry_no: int,
    first_line_no: int,
    sourceline: int,
    where: str,
    header: Any,
    currency: str,
    warnings: Warnings | None = None,
) -> list[StatementLine]:
    """Map one entry (its `amount` read already) of a statement in `currency` to its
    lines: one, or one per transaction of a batch booking (each with its own amount and
    references), numbered from `first_line_no`. `where` names the entry (`Ntry[3]`) and
    `header` is its statement's, bound by xsdata."""
    t = tags
    value = _amount(amount, currency, sourceline, f"{where}/Amt")
    direction = _direction(entry.first.get(t.CdtDbtInd))
    transactions = [
        tx for details in entry.iterfind(t.NtryDtls) for tx in details.iterfind(t.TxDtls)
    ]
    booking, value_day = entry.first.get(t.BookgDt), entry.first.get(t.ValDt)
    context = _Entry(
        element=entry,
        tags=t,
        currency=currency,
        sourceline=sourceline,
        where=where,
        fallback_ref=nodes.text(entry.first.get(t.AcctSvcrRef)) or f"{header.id}:{entry_no}",
        common={
            "booked_at": _booked_at(booking, value_day, header, t, sourceline, where),
            "business_date": nodes.business_date(booking, value_day, t, sourceline, where)
            or _statement_day(header),
            "status": fields.status(entry.first.get(t.Sts), t, sourceline, where),
            "value_date": nodes.written_date(value_day, t, sourceline, f"{where}/ValDt"),
            "currency": currency,
        },
        warnings=warnings,
    )
    parts = _batch(transactions, value, direction, context)
    if parts is None:  # one transaction, or a batch that states no amount per transaction
        details = transactions[0] if len(transactions) == 1 else None
        batch = len(transactions)
        return [_line(context, details, first_line_no, value, direction, batch=batch)]
    return [
        _line(context, tx, first_line_no + offset, tx_amount, tx_direction, batch_no=offset + 1)
        for offset, (tx, tx_amount, tx_direction) in enumerate(parts)
    ]


def _line(
    context: _Entry,
    details: nodes.Node | None,
    line_no: int,
    amount: int,
    direction: Direction,
    *,
    batch_no: int | None = None,
    batch: int = 0,
) -> StatementLine:
    """A line of the entry: the whole of it (`batch` transactions in it), or the
    `batch_no`-th transaction of a batch."""
    t = context.tags
    single = batch_no is None
    entry = context.element
    refs = details.first.get(t.Refs) if details is not None else None
    code = details.first.get(t.BkTxCd) if details is not None else None
    code = code if code is not None else entry.first.get(t.BkTxCd)
    own_ref = nodes.text(refs.first.get(t.AcctSvcrRef)) if refs is not None else None
    entry_ref = nodes.text(entry.first.get(t.AcctSvcrRef))
    if single:
        source_ref = str(entry_ref or context.fallback_ref)
    else:
        source_ref = str(own_ref or f"{context.fallback_ref}:{batch_no}")
    code_text = fields.code_text(code, t)
    raw = {"bank_transaction_code": code_text}
    if not single:
        raw["batch_entry"] = context.fallback_ref
    elif nodes.is_true(entry.first.get(t.RvslInd)):
        raw["reversal"] = "true"
    if batch > 1:  # a batch that states no amount per transaction: one line for it all
        raw["batch_transactions"] = str(batch)
    return StatementLine(
        line_no=line_no,
        source_ref=source_ref,
        kind=fields.kind(code, t, direction),
        direction=direction,
        amount=amount,
        channel_txn_id=fields.channel_txn_id(entry_ref if single else None, refs, t),
        reference=fields.reference(refs, t) or fields.creditor_reference(details, t),
        fee=_fee(entry if single else None, details, context),
        raw=raw,
        bank_kind=code_text or None,
        **_counter_value(entry if single else None, details, context),
        **fields.parties(details, direction, t),
        **context.common,
    )


def _amount(value: nodes.Money | None, currency: str, sourceline: int, field: str) -> int:
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


def _direction(indicator: nodes.Node | None) -> Direction:
    return Direction.CREDIT if nodes.is_credit(indicator) else Direction.DEBIT


def _batch(
    transactions: list[nodes.Node], amount: int, direction: Direction, context: _Entry
) -> list[tuple[nodes.Node, int, Direction]] | None:
    """A batch booking split into its transactions, each with its amount; the entry's
    amount must be what they add up to. None when it is not a batch, or a batch whose
    transactions state no amount of their own (then it stays one line)."""
    if len(transactions) < 2:
        return None
    t = context.tags
    stated = [
        nodes.money(
            _transaction_amount(tx, t), context.sourceline, f"{context.where}/NtryDtls/TxDtls"
        )
        for tx in transactions
    ]
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
        indicator = tx.first.get(t.CdtDbtInd)
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


def _transaction_amount(tx: nodes.Node, t: nodes.Tags) -> nodes.Node | None:
    """TxDtls/Amt (.03 and later), else AmtDtls/TxAmt/Amt (.02)."""
    own = tx.first.get(t.Amt)
    if own is not None:
        return own
    return nodes.path(tx, t.AmtDtls, t.TxAmt, t.Amt)


def _counter_value(
    entry: nodes.Node | None, details: nodes.Node | None, context: _Entry
) -> dict[str, Any]:
    """The instructed amount in another currency (a payment converted by the bank), kept
    beside the line: from the transaction, else from the entry."""
    t = context.tags
    for owner in (details, entry):
        if owner is None:
            continue
        value = nodes.money(
            nodes.path(owner, t.AmtDtls, t.InstdAmt, t.Amt),
            context.sourceline,
            f"{context.where}/AmtDtls/InstdAmt/Amt",
        )
        if value is not None and value.ccy != context.currency:
            text = format(value.value, "f")
            return {
                "counter_amount": parse_amount(text, value.ccy, field="AmtDtls/InstdAmt/Amt"),
                "counter_currency": value.ccy,
            }
    return {}


def _charge_records(owner: nodes.Node, t: nodes.Tags) -> list[nodes.Node]:
    """The charges of an entry or transaction: .02 repeats `Chrgs` (one charge each);
    later versions have one `Chrgs` of records (`Rcrd`), maybe with only a total."""
    records: list[nodes.Node] = []
    for charges in owner.iterfind(t.Chrgs):
        found = charges.findall(t.Rcrd)
        if found:
            records.extend(found)
        elif (
            charges.first.get(t.Amt) is not None
            or charges.first.get(t.TtlChrgsAndTaxAmt) is not None
        ):
            records.append(charges)
    return records


def _fee(entry: nodes.Node | None, details: nodes.Node | None, context: _Entry) -> int:
    """The bank's charges on this line (the entry's, when the line is the whole entry,
    else its transaction's); charges credited back (CRDT) are not a fee."""
    t = context.tags
    records = (_charge_records(entry, t) if entry is not None else []) or (
        _charge_records(details, t) if details is not None else []
    )
    fee = 0
    field = f"{context.where}/Chrgs/Amt"
    for record in records:
        stated = record.first.get(t.Amt)
        stated = stated if stated is not None else record.first.get(t.TtlChrgsAndTaxAmt)
        amount = nodes.money(stated, context.sourceline, field)
        if amount is None:  # pragma: no cover - _charge_records keeps records with one
            continue
        if nodes.is_credit(record.first.get(t.CdtDbtInd)):
            continue
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


def _booked_at(
    booking: nodes.Node | None,
    value: nodes.Node | None,
    header: Any,
    t: nodes.Tags,
    sourceline: int,
    where: str,
) -> datetime:
    for candidate, name in ((booking, "BookgDt"), (value, "ValDt")):
        if candidate is not None:
            return nodes.instant(candidate, t, sourceline, f"{where}/{name}")
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
    return nodes.utc(created.to_datetime())


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
