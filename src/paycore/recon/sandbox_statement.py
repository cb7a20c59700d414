"""The sandbox bank's daily statement (see paycore.sandbox_bank.statement), parsed.

A UTF-8 CSV: a header row, one row per money movement, then a summary header and one
summary row per currency (a lone `0` row on a day with nothing). Columns are found by
their names. `Merchant Ref` is our order id; `Bank Txn No` is the bank's id, which a
payout keeps when it is returned, so a `RETURN` row's own id is `<bank txn no>/RETURN`.
A returned payout is a PAYOUT line in the CREDIT direction: the money came back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from paycore.recon.csv_columns import (
    SHANGHAI,
    Columns,
    Rows,
    amount,
    cell_text,
    count,
    decoded_lines,
    local_date,
    local_time,
    physical_lines,
)
from paycore.recon.model import (
    ControlTotals,
    Counterparty,
    Direction,
    LineKind,
    LineStatus,
    MalformedStatement,
    Statement,
    StatementInfo,
    StatementLine,
    shown,
)

FORMAT = "sandbox_csv"
SOURCE_DEFAULT = "sandbox"

_ROW_COLUMNS = {
    "day": ("Txn Date",),
    "bank_txn_no": ("Bank Txn No",),
    "reference": ("Merchant Ref",),
    "type": ("Type",),
    "amount": ("Amount",),
    "fee": ("Fee",),
    "currency": ("Currency",),
    "status": ("Status",),
    "finished_at": ("Finished At",),
    "account": ("Account",),
    "counterparty_account": ("Counterparty Account",),
    "counterparty_name": ("Counterparty Name",),
}
_LATER_COLUMNS = frozenset({"account", "counterparty_account", "counterparty_name", "CREDIT"})
"""Added with credit transfers received: an older file has none of them."""
_SUMMARY_MARK = "Total Count"
_SUMMARY_COLUMNS = {
    "count": (_SUMMARY_MARK,),
    "currency": ("Currency",),
    "PAYIN": ("Payin Amount",),
    "REFUND": ("Refund Amount",),
    "PAYOUT": ("Payout Amount",),
    "RETURN": ("Return Amount",),
    "CREDIT": ("Credit Amount",),
    "fee": ("Fee Amount",),
    "net": ("Net Amount",),
}
_TYPES = {
    "PAYIN": (LineKind.PAYIN, Direction.CREDIT),
    "REFUND": (LineKind.REFUND, Direction.DEBIT),
    "PAYOUT": (LineKind.PAYOUT, Direction.DEBIT),
    "RETURN": (LineKind.PAYOUT, Direction.CREDIT),
    "CREDIT": (LineKind.PAYIN, Direction.CREDIT),  # money received with no order of ours
}
_NET_SIGN = {"PAYIN": 1, "REFUND": -1, "PAYOUT": -1, "RETURN": 1, "CREDIT": 1}
_STATUSES = {
    "SUCCESS": LineStatus.SUCCEEDED,
    "FAILED": LineStatus.FAILED,
    "PROCESSING": LineStatus.PENDING,
}


@dataclass
class _Tally:
    """What the rows of one currency add up to, per Type label."""

    count: int = 0
    fee: int = 0

    def __post_init__(self) -> None:
        self.by_type = dict.fromkeys(_TYPES, 0)


def parse(path: Path, *, source: str | None = None, zone: ZoneInfo = SHANGHAI) -> Statement:
    day = _first_day(path)
    info = StatementInfo(
        format=FORMAT,
        source=source or SOURCE_DEFAULT,
        statement_id=path.name,
        period_start=day,
        period_end=day,
    )
    statement = Statement(info, iter(()))
    statement.lines = _lines(path, statement, zone)
    return statement


def _first_day(path: Path) -> date | None:
    """The business day, from the first row (read and closed at once); None if empty."""
    with path.open("rb") as raw:
        rows = Rows(decoded_lines(physical_lines(raw), "utf-8-sig"))
        columns = Columns(next(rows, []), _ROW_COLUMNS, line=1, optional=_LATER_COLUMNS)
        first = next(rows, None)
    if first is None or (first and cell_text(first[0]) == _SUMMARY_MARK):
        return None
    columns.check_row(first, line=2)
    return local_date(columns.get(first, "day"), line=2, field="Txn Date")


def _lines(path: Path, statement: Statement, zone: ZoneInfo) -> Iterator[StatementLine]:
    tallies: dict[str, _Tally] = {}
    with path.open("rb") as raw:
        rows = Rows(decoded_lines(physical_lines(raw), "utf-8-sig"))
        columns = Columns(next(rows, []), _ROW_COLUMNS, line=1, optional=_LATER_COLUMNS)
        for row in rows:
            line_no = rows.line_num
            if row and cell_text(row[0]) == _SUMMARY_MARK:
                _check_summary(
                    rows,
                    Columns(row, _SUMMARY_COLUMNS, line=line_no, optional=_LATER_COLUMNS),
                    tallies,
                )
                break
            columns.check_row(row, line=line_no)
            line = _line(columns, row, line_no, zone)
            tally = tallies.setdefault(line.currency, _Tally())
            tally.count += 1
            tally.by_type[line.raw["Type"]] += line.amount
            tally.fee += line.fee
            yield line
        else:
            raise MalformedStatement(
                "the file ends before its summary (truncated?)",
                line=rows.line_num + 1,
                field=_SUMMARY_MARK,
            )
    statement.totals = _totals(tallies)


def _line(columns: Columns, row: Sequence[str], line_no: int, zone: ZoneInfo) -> StatementLine:
    label = columns.get(row, "type")
    if label not in _TYPES:
        raise MalformedStatement(f"unknown type {shown(label)}", line=line_no, field="Type")
    status = columns.get(row, "status")
    if status not in _STATUSES:
        raise MalformedStatement(f"unknown status {shown(status)}", line=line_no, field="Status")
    currency = columns.get(row, "currency")
    value = amount(columns.get(row, "amount"), currency, line=line_no, field="Amount")
    fee = amount(columns.get(row, "fee"), currency, line=line_no, field="Fee")
    if value <= 0:
        raise MalformedStatement("the amount must be above zero", line=line_no, field="Amount")
    if fee < 0:
        raise MalformedStatement("the fee must not be negative", line=line_no, field="Fee")
    bank_txn_no = columns.get(row, "bank_txn_no")
    if not bank_txn_no:
        raise MalformedStatement("the bank's id is empty", line=line_no, field="Bank Txn No")
    kind, direction = _TYPES[label]
    return StatementLine(
        line_no=line_no,
        source_ref=f"{bank_txn_no}/RETURN" if label == "RETURN" else bank_txn_no,
        kind=kind,
        direction=direction,
        amount=value,
        currency=currency,
        booked_at=local_time(
            columns.get(row, "finished_at"), zone=zone, line=line_no, field="Finished At"
        ),
        status=_STATUSES[status],
        channel_txn_id=bank_txn_no,
        reference=columns.get(row, "reference") or None,
        fee=fee,
        value_date=local_date(columns.get(row, "day"), line=line_no, field="Txn Date"),
        raw={"Type": label, "Bank Txn No": bank_txn_no},
        account=columns.get(row, "account") or None,
        counterparty=_counterparty(columns, row),
    )


def _counterparty(columns: Columns, row: Sequence[str]) -> Counterparty | None:
    number = columns.get(row, "counterparty_account")
    name = columns.get(row, "counterparty_name")
    return Counterparty(account_number=number, name=name) if number and name else None


def _check_summary(rows: Rows, columns: Columns, tallies: dict[str, _Tally]) -> None:
    """Every summary row must equal what its currency's rows add up to, and no currency
    may be missing from the summary."""
    seen: set[str] = set()
    for row in rows:
        line_no = rows.line_num
        if [cell_text(cell) for cell in row][:1] == ["0"] and not any(map(cell_text, row[1:])):
            _expect(0, sum(tally.count for tally in tallies.values()), line_no, _SUMMARY_MARK)
            continue
        columns.check_row(row, line=line_no)
        currency = columns.get(row, "currency")
        tally = tallies.get(currency, _Tally())
        seen.add(currency)
        stated_count = count(columns.get(row, "count"), line=line_no, field=_SUMMARY_MARK)
        _expect(stated_count, tally.count, line_no, _SUMMARY_MARK)
        for label in _TYPES:
            name = _SUMMARY_COLUMNS[label][0]
            stated = (
                amount(columns.get(row, label), currency, line=line_no, field=name)
                if columns.has(label)
                else 0
            )
            _expect(stated, tally.by_type[label], line_no, name)
        fee = amount(columns.get(row, "fee"), currency, line=line_no, field="Fee Amount")
        _expect(fee, tally.fee, line_no, "Fee Amount")
        net = sum(_NET_SIGN[label] * total for label, total in tally.by_type.items()) - tally.fee
        stated_net = amount(columns.get(row, "net"), currency, line=line_no, field="Net Amount")
        _expect(stated_net, net, line_no, "Net Amount")
    missing = sorted(set(tallies) - seen)
    if missing:
        raise MalformedStatement(
            f"the summary has no row for {', '.join(missing)}", field=_SUMMARY_MARK
        )


def _expect(stated: int, counted: int, line_no: int, field_name: str) -> None:
    if stated != counted:
        raise MalformedStatement(
            f"the file says {stated}, its rows add up to {counted}", line=line_no, field=field_name
        )


def _totals(tallies: dict[str, _Tally]) -> ControlTotals:
    """Count always; sums only for a one-currency statement (sums across currencies mean
    nothing)."""
    count = sum(tally.count for tally in tallies.values())
    if len(tallies) != 1:
        return ControlTotals(count=count)
    (tally,) = tallies.values()
    return ControlTotals(
        count=count,
        credits=tally.by_type["PAYIN"] + tally.by_type["RETURN"] + tally.by_type["CREDIT"],
        debits=tally.by_type["REFUND"] + tally.by_type["PAYOUT"],
    )
