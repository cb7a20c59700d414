"""The bank's daily statement file: CSV in the bank's own words, for reconciliation.

One business day (midnight to midnight in the bank's time zone, Asia/Shanghai by
default). Rows, oldest first: pay-ins, refunds and payouts that succeeded that day,
payouts returned that day (type RETURN; the payout keeps its own row on the day it was
paid), and credit transfers received (type CREDIT, no merchant reference; the last three
columns name the account credited and who paid). Amounts are unsigned decimal strings
with the currency's exponent; times are local.

    Txn Date,Bank Txn No,Merchant Ref,Type,Amount,Fee,Currency,Status,Finished At,Account,...
    2026-01-01,BT01K...,pay_01K...,PAYIN,100.00,0.60,CNY,SUCCESS,2026-01-01 10:00:01,,,
    Total Count,Currency,Payin Amount,Refund Amount,Payout Amount,Return Amount,Credit ...
    1,CNY,100.00,0.00,0.00,0.00,0.00,0.60,99.40

The summary block closes the file: its own header line, then one line per currency (a
single `0` line when the day had nothing).
Net = pay-ins - refunds - payouts + returns + credits - fees.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from paycore.money import decimal_text
from paycore.sandbox_bank.credits import Credit
from paycore.sandbox_bank.model import Txn, TxnStatus, TxnType

COLUMNS = (
    "Txn Date",
    "Bank Txn No",
    "Merchant Ref",
    "Type",
    "Amount",
    "Fee",
    "Currency",
    "Status",
    "Finished At",
    "Account",
    "Counterparty Account",
    "Counterparty Name",
)
SUMMARY_COLUMNS = (
    "Total Count",
    "Currency",
    "Payin Amount",
    "Refund Amount",
    "Payout Amount",
    "Return Amount",
    "Credit Amount",
    "Fee Amount",
    "Net Amount",
)
_TYPE_LABELS = {TxnType.PAYIN: "PAYIN", TxnType.REFUND: "REFUND", TxnType.PAYOUT: "PAYOUT"}
RETURN_LABEL = "RETURN"
CREDIT_LABEL = "CREDIT"  # a credit transfer received (credits.py): no merchant reference
SUCCESS_LABEL = "SUCCESS"
_NET_SIGN = {"PAYIN": 1, "REFUND": -1, "PAYOUT": -1, RETURN_LABEL: 1, CREDIT_LABEL: 1}


@dataclass(frozen=True, slots=True)
class StatementLine:
    finished_at: datetime
    bank_txn_no: str
    reference: str
    label: str
    amount_minor: int
    fee_minor: int
    currency: str
    account: str = ""  # credits only: the account credited, and who paid
    counterparty_account: str = ""
    counterparty_name: str = ""


def day_window(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a business day, in UTC."""
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def statement_lines(
    txns: Iterable[Txn], day: date, zone: ZoneInfo, credits: Iterable[Credit] = ()
) -> list[StatementLine]:
    start, end = day_window(day, zone)
    lines = [_credit_line(c) for c in credits if start <= c.booked_at < end]
    for txn in txns:
        paid = txn.status is TxnStatus.SUCCEEDED or (
            txn.type is TxnType.PAYOUT and txn.status is TxnStatus.RETURNED
        )
        if paid and txn.finished_at is not None and start <= txn.finished_at < end:
            lines.append(_line(txn, txn.finished_at, _TYPE_LABELS[txn.type], txn.fee_minor))
        if txn.returned_at is not None and start <= txn.returned_at < end:
            lines.append(_line(txn, txn.returned_at, RETURN_LABEL, 0))
    lines.sort(key=lambda line: (line.finished_at, line.bank_txn_no, line.label))
    return lines


def _line(txn: Txn, at: datetime, label: str, fee_minor: int) -> StatementLine:
    return StatementLine(
        finished_at=at,
        bank_txn_no=txn.bank_txn_no,
        reference=txn.reference,
        label=label,
        amount_minor=txn.amount_minor,
        fee_minor=fee_minor,
        currency=txn.currency,
    )


def _credit_line(credit: Credit) -> StatementLine:
    return StatementLine(
        finished_at=credit.booked_at,
        bank_txn_no=credit.bank_txn_no,
        reference="",
        label=CREDIT_LABEL,
        amount_minor=credit.amount_minor,
        fee_minor=0,
        currency=credit.currency,
        account=credit.account,
        counterparty_account=credit.payer_account,
        counterparty_name=credit.payer_name,
    )


def render_statement(lines: list[StatementLine], day: date, zone: ZoneInfo) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for line in lines:
        local = line.finished_at.astimezone(zone)
        writer.writerow(
            (
                day.isoformat(),
                line.bank_txn_no,
                line.reference,
                line.label,
                decimal_text(line.amount_minor, line.currency),
                decimal_text(line.fee_minor, line.currency),
                line.currency,
                SUCCESS_LABEL,
                local.strftime("%Y-%m-%d %H:%M:%S"),
                line.account,
                line.counterparty_account,
                line.counterparty_name,
            )
        )
    writer.writerow(SUMMARY_COLUMNS)
    for row in _summary(lines):
        writer.writerow(row)
    return out.getvalue().encode()


def _summary(lines: list[StatementLine]) -> list[tuple[str, ...]]:
    if not lines:
        return [("0", *[""] * (len(SUMMARY_COLUMNS) - 1))]
    rows: list[tuple[str, ...]] = []
    for code in sorted({line.currency for line in lines}):
        mine = [line for line in lines if line.currency == code]
        totals = {label: 0 for label in _NET_SIGN}
        for line in mine:
            totals[line.label] += line.amount_minor
        fees = sum(line.fee_minor for line in mine)
        net = sum(_NET_SIGN[label] * total for label, total in totals.items()) - fees
        rows.append(
            (
                str(len(mine)),
                code,
                decimal_text(totals["PAYIN"], code),
                decimal_text(totals["REFUND"], code),
                decimal_text(totals["PAYOUT"], code),
                decimal_text(totals[RETURN_LABEL], code),
                decimal_text(totals[CREDIT_LABEL], code),
                decimal_text(fees, code),
                decimal_text(net, code),
            )
        )
    return rows
