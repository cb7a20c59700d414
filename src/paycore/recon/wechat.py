"""The WeChat Pay trade bill (微信支付 交易账单, `bill_type=ALL`), parsed and written.

UTF-8 text (a BOM is allowed): a header row, one row per payment or refund with every
field prefixed by a backtick (so a spreadsheet keeps long ids as text), then a summary
header (总交易单数,...) and one summary row. Columns are found by name; two layouts are
known: the current one (应结订单金额, 订单金额, 申请退款金额, 费率备注) and the older one
(总金额, 企业红包金额, ...).

- SUCCESS rows are pay-ins: `channel_txn_id` 微信订单号, `reference` 商户订单号, the amount
  订单金额 (总金额 in the older layout), the fee 手续费.
- REFUND rows are refunds: `channel_txn_id` 微信退款单号, `reference` 商户退款单号, the
  amount 申请退款金额 (退款金额 in the older layout), the status from 退款状态. WeChat
  writes the fee it gives back as a negative 手续费: kept in `raw`, not as a fee.
- The summary row is checked against the rows: 总交易单数 counts every row, the refund
  total (申请退款总金额 / 总退款金额) the refunds, and 手续费总金额 every row's signed
  手续费. The order total (订单总金额 / 总交易额) is read two ways in the wild: the sum
  over the pay-in rows, or the sum of 订单金额 over every row, a refund row carrying its
  order's amount; either imports, anything else is refused.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from paycore.money import decimal_text
from paycore.recon.csv_columns import (
    SHANGHAI,
    Columns,
    Rows,
    amount,
    cell_text,
    count,
    decoded_lines,
    local_time,
    physical_lines,
)
from paycore.recon.model import (
    ControlTotals,
    Direction,
    LineKind,
    LineStatus,
    MalformedStatement,
    Statement,
    StatementInfo,
    StatementLine,
    shown,
)

FORMAT = "wechat"
ENCODING = "utf-8-sig"
PAID, REFUND = "SUCCESS", "REFUND"

_ROW_COLUMNS = {
    "time": ("交易时间",),
    "merchant": ("商户号",),
    "txn_id": ("微信订单号",),
    "order_no": ("商户订单号",),
    "state": ("交易状态",),
    "currency": ("货币种类",),
    "order_amount": ("订单金额", "总金额"),
    "refund_id": ("微信退款单号",),
    "refund_no": ("商户退款单号",),
    "refund_amount": ("申请退款金额", "退款金额"),
    "refund_state": ("退款状态",),
    "fee": ("手续费",),
    "fee_rate": ("费率",),
}
_SUMMARY_MARK = "总交易单数"
_SUMMARY_COLUMNS = {
    "count": (_SUMMARY_MARK,),
    "orders": ("订单总金额", "总交易额"),
    "refunds": ("申请退款总金额", "总退款金额"),
    "fees": ("手续费总金额",),
}
_REFUND_STATES = {
    "SUCCESS": LineStatus.SUCCEEDED,
    "PROCESSING": LineStatus.PENDING,
    "REFUNDCLOSE": LineStatus.FAILED,
    "CHANGE": LineStatus.FAILED,
}
CURRENT_HEADER = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
]
CURRENT_SUMMARY_HEADER = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
]


@dataclass
class _Sums:
    count: int = 0
    orders: int = 0  # the pay-in rows' amounts
    orders_every_row: int = 0  # 订单金额 of every row: a refund row's is its order's
    refunds: int = 0
    fees: int = 0  # signed, as the bill writes 手续费


def parse(path: Path, *, source: str | None = None) -> Statement:
    with path.open("rb") as raw:  # the header is read now so a bad file fails at once
        Columns(next(_rows(raw), []), _ROW_COLUMNS, line=1)
    info = StatementInfo(format=FORMAT, source=source or FORMAT, statement_id=path.name)
    statement = Statement(info, iter(()))
    statement.lines = _lines(path, statement)
    return statement


def _rows(raw: BinaryIO) -> Rows:
    return Rows(decoded_lines(physical_lines(raw), ENCODING))


def _lines(path: Path, statement: Statement) -> Iterator[StatementLine]:
    sums = _Sums()
    currencies: set[str] = set()
    with path.open("rb") as raw:
        rows = _rows(raw)
        columns = Columns(next(rows, []), _ROW_COLUMNS, line=1)
        for row in rows:
            line_no = rows.line_num
            if row and cell_text(row[0]) == _SUMMARY_MARK:
                summary = Columns(row, _SUMMARY_COLUMNS, line=line_no)
                _check_summary(next(rows, None), summary, rows.line_num, sums, currencies)
                break
            columns.check_row(row, line=line_no)
            line, signed_fee, order_amount = _line(columns, row, line_no)
            sums.count += 1
            sums.fees += signed_fee
            sums.orders_every_row += order_amount
            if line.kind is LineKind.PAYIN:
                sums.orders += line.amount
            else:
                sums.refunds += line.amount
            currencies.add(line.currency)
            yield line
        else:
            raise MalformedStatement(
                "the file ends before its summary (truncated?)",
                line=rows.line_num + 1,
                field=_SUMMARY_MARK,
            )
    statement.totals = ControlTotals(count=sums.count, credits=sums.orders, debits=sums.refunds)


def _line(columns: Columns, row: list[str], line_no: int) -> tuple[StatementLine, int, int]:
    """The line, 手续费 as the bill writes it (negative on a refund), and the row's
    订单金额 (on a refund row: its order's, or 0)."""
    state = columns.get(row, "state")
    currency = columns.get(row, "currency")
    booked_at = local_time(columns.get(row, "time"), zone=SHANGHAI, line=line_no, field="交易时间")
    fee = _money(columns.get(row, "fee"), currency, line_no, "手续费")
    raw = {
        "交易状态": state,
        "手续费": columns.get(row, "fee"),
        "费率": columns.get(row, "fee_rate"),
    }
    if state == PAID:
        txn_id = _required(columns, row, "txn_id", line_no, "微信订单号")
        value = _money(
            columns.get(row, "order_amount"), currency, line_no, columns.name("order_amount")
        )
        kind, direction, status, reference = (
            LineKind.PAYIN,
            Direction.CREDIT,
            LineStatus.SUCCEEDED,
            "order_no",
        )
    elif state == REFUND:
        txn_id = _required(columns, row, "refund_id", line_no, "微信退款单号")
        value = _money(
            columns.get(row, "refund_amount"), currency, line_no, columns.name("refund_amount")
        )
        refund_state = columns.get(row, "refund_state")
        if refund_state not in _REFUND_STATES:
            raise MalformedStatement(
                f"unknown refund state {shown(refund_state)}", line=line_no, field="退款状态"
            )
        kind, direction, status, reference = (
            LineKind.REFUND,
            Direction.DEBIT,
            _REFUND_STATES[refund_state],
            "refund_no",
        )
        raw["微信订单号"] = columns.get(row, "txn_id")
    else:
        raise MalformedStatement(
            f"unknown trade state {shown(state)}", line=line_no, field="交易状态"
        )
    if value <= 0:
        raise MalformedStatement(
            "the amount must be above zero",
            line=line_no,
            field=columns.name("order_amount" if kind is LineKind.PAYIN else "refund_amount"),
        )
    line = StatementLine(
        line_no=line_no, source_ref=txn_id, kind=kind, direction=direction, amount=value,
        currency=currency, booked_at=booked_at, status=status, channel_txn_id=txn_id,
        reference=columns.get(row, reference) or None, fee=max(0, fee), raw=raw,
    )  # fmt: skip
    return (
        line,
        fee,
        value if kind is LineKind.PAYIN else _order_amount_of_refund(columns, row, line_no),
    )


def _order_amount_of_refund(columns: Columns, row: list[str], line_no: int) -> int:
    text = columns.get(row, "order_amount")
    if not text:
        return 0
    return _money(text, columns.get(row, "currency"), line_no, columns.name("order_amount"))


def _check_summary(
    row: list[str] | None, columns: Columns, line_no: int, sums: _Sums, currencies: set[str]
) -> None:
    if row is None:
        raise MalformedStatement(
            "the summary header has no summary row", line=line_no, field=_SUMMARY_MARK
        )
    columns.check_row(row, line=line_no)
    if len(currencies) > 1:
        raise MalformedStatement("a bill in more than one currency", field="货币种类")
    currency = next(iter(currencies), "CNY")
    stated_count = count(columns.get(row, "count"), line=line_no, field=_SUMMARY_MARK)
    _expect(stated_count, sums.count, line_no, _SUMMARY_MARK)
    for field_name, counted in (("refunds", sums.refunds), ("fees", sums.fees)):
        label = columns.name(field_name)
        stated = _money(columns.get(row, field_name), currency, line_no, label)
        _expect(stated, counted, line_no, label)
    label = columns.name("orders")
    stated = _money(columns.get(row, "orders"), currency, line_no, label)
    if stated not in (sums.orders, sums.orders_every_row):
        raise MalformedStatement(
            f"the summary says {stated}; the pay-in rows add up to {sums.orders}, "
            f"{columns.name('order_amount')} over every row to {sums.orders_every_row}",
            line=line_no,
            field=label,
        )


def _expect(stated: int, counted: int, line_no: int, label: str) -> None:
    if stated != counted:
        raise MalformedStatement(
            f"the summary says {stated}, the rows add up to {counted}", line=line_no, field=label
        )


def _required(columns: Columns, row: list[str], field_name: str, line_no: int, label: str) -> str:
    value = columns.get(row, field_name)
    if not value:
        raise MalformedStatement("the id is empty", line=line_no, field=label)
    return value


def _money(text: str, currency: str, line_no: int, label: str) -> int:
    return amount(text, currency, line=line_no, field=label)


@dataclass(frozen=True, slots=True)
class BillRow:
    """One row for `write_wechat_bill`: a pay-in, or a refund (with its refund ids)."""

    txn_id: str
    order_no: str
    amount: int  # minor units
    booked_at_local: str  # '2026-11-25 10:00:01', Asia/Shanghai
    fee: int = 0
    currency: str = "CNY"
    refund_id: str | None = None  # set for a refund
    refund_no: str | None = None
    merchant: str = "1900000109"


def write_wechat_bill(path: Path, rows: Iterable[BillRow]) -> int:
    """Write a current-layout ALL bill (streamed, for big test files); returns the rows."""
    sums = _Sums()
    code = "CNY"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CURRENT_HEADER)
        for row in rows:
            code = row.currency
            writer.writerow(_bill_cells(row))
            sums.count += 1
            sums.fees += -row.fee if row.refund_id else row.fee
            if row.refund_id:
                sums.refunds += row.amount
            else:
                sums.orders += row.amount
        writer.writerow(CURRENT_SUMMARY_HEADER)
        money = [decimal_text(value, code) for value in (sums.orders, sums.refunds, 0, sums.fees)]
        totals = (str(sums.count), money[0], money[1], money[2], money[3], money[0], money[1])
        writer.writerow([f"`{value}" for value in totals])
    return sums.count


def _bill_cells(row: BillRow) -> list[str]:
    refund = row.refund_id is not None
    value, zero = decimal_text(row.amount, row.currency), decimal_text(0, row.currency)
    fee = decimal_text(-row.fee if refund else row.fee, row.currency)
    cells = {
        "交易时间": row.booked_at_local, "公众账号ID": "wx2421b1c4370ec43b", "商户号": row.merchant,
        "特约商户号": "0", "微信订单号": row.txn_id, "商户订单号": row.order_no,
        "交易类型": "NATIVE", "交易状态": REFUND if refund else PAID, "付款银行": "OTHERS",
        "货币种类": row.currency, "应结订单金额": zero if refund else value, "代金券金额": zero,
        "微信退款单号": row.refund_id or "0", "商户退款单号": row.refund_no or "0",
        "退款金额": value if refund else zero, "充值券退款金额": zero,
        "退款类型": "ORIGINAL" if refund else "", "退款状态": "SUCCESS" if refund else "",
        "手续费": fee, "费率": "0.60%", "订单金额": zero if refund else value,
        "申请退款金额": value if refund else zero,
    }  # fmt: skip
    return [f"`{cells.get(name, '')}" for name in CURRENT_HEADER]
