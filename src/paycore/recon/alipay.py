# ruff: noqa: RUF001, RUF002, RUF003  (the bill's own names use full-width （）：，)
"""The Alipay trade bill (支付宝 业务明细), parsed from the ZIP Alipay serves.

The ZIP holds two GBK-encoded CSV files: the detail (`<account>_<date>_业务明细.csv`) and
the summary (`..._业务明细(汇总).csv`). Each has `#` comment lines before its table (account,
period) and after it (the detail's 交易合计 / 退款合计 footer). Columns are found by name:
layouts differ in order and in optional columns (门店编号, 门店名称, ...).

- 交易 rows are pay-ins: `channel_txn_id` is 支付宝交易号, `reference` 商户订单号, the amount
  订单金额（元）, the fee the negated 服务费（元）.
- 退款 rows are refunds of the trade with the same 支付宝交易号, so that id is not the
  refund's own: `channel_txn_id` stays empty and `reference` is 退款批次号/请求号 (the
  refund request id we sent), the amount is the negated 商家实收（元）. The fee Alipay gives
  back on a refund (a positive 服务费) is kept in `raw`, not as a fee.
- The footer and the summary's 合计 row are checked against the rows: counts, 商家实收 and
  服务费. A file without them was cut short and is refused.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from paycore.recon.csv_columns import (
    SHANGHAI,
    Columns,
    Rows,
    amount,
    count,
    decoded_lines,
    local_time,
    physical_lines,
)
from paycore.recon.model import (
    ControlTotals,
    Direction,
    LineKind,
    MalformedStatement,
    Statement,
    StatementInfo,
    StatementLine,
    shown,
)

FORMAT = "alipay"
CURRENCY = "CNY"  # the bill's amounts are in 元
ENCODING = "gbk"
DETAIL_SUFFIX = "_业务明细.csv"
SUMMARY_SUFFIX = "_业务明细(汇总).csv"
TRADE, REFUND = "交易", "退款"

_DETAIL_COLUMNS = {
    "trade_no": ("支付宝交易号",),
    "order_no": ("商户订单号",),
    "kind": ("业务类型",),
    "finished_at": ("完成时间",),
    "order_amount": ("订单金额（元）", "订单金额(元)"),
    "received": ("商家实收（元）", "商家实收(元)"),
    "service_fee": ("服务费（元）", "服务费(元)"),
    "refund_no": ("退款批次号/请求号",),
    "store": ("门店编号",),
}
_DETAIL_OPTIONAL = frozenset({"store"})
_SUMMARY_COLUMNS = {
    "trades": ("交易订单总笔数",),
    "refunds": ("退款订单总笔数",),
    "received": ("商家实收（元）", "商家实收(元)"),
    "service_fee": ("服务费（元）", "服务费(元)"),
}
_TOTAL_MARK = "合计"
_ACCOUNT = re.compile(r"#账号：\[?(\w+)\]?")
_PERIOD = re.compile(r"([0-9]{4})年([0-9]{2})月([0-9]{2})日")
_TRADE_FOOTER = re.compile(r"#交易合计：([0-9]+)笔，商家实收共(-?[0-9,.]+)元")
_REFUND_FOOTER = re.compile(r"#退款合计：([0-9]+)笔，商家实收退款共(-?[0-9,.]+)元")
_OPEN_FAULTS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    ValueError,
    EOFError,
    struct.error,
    NotImplementedError,
)
"""What zipfile raises on bytes that are not a whole ZIP (a bad name encoding is a
ValueError, a directory offset past the end an OSError, a version it lacks
NotImplementedError)."""
_READ_FAULTS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    UnicodeDecodeError,
)
"""What reading a member raises when it is corrupt, compressed by a method zipfile lacks
(NotImplementedError), encrypted (RuntimeError) or its local name not UTF-8 as flagged."""


_DETAIL_NAMES = {field: names[0] for field, names in (_DETAIL_COLUMNS | _SUMMARY_COLUMNS).items()}


@dataclass
class _Sums:
    """What the detail rows add up to, in the bill's own terms and in the lines' terms."""

    trades: int = 0
    refunds: int = 0
    trade_received: int = 0  # 商家实收 of the 交易 rows
    refund_received: int = 0  # |商家实收| of the 退款 rows: the refund lines' amounts
    trade_amount: int = 0  # 订单金额 of the 交易 rows: the pay-in lines' amounts
    service_fee: int = 0  # signed, as the bill writes it


@dataclass(frozen=True)
class _Stated:
    """The summary file's 合计 row."""

    trades: int
    refunds: int
    received: int  # net 商家实收: trades less refunds
    service_fee: int


def parse(path: Path, *, source: str | None = None) -> Statement:
    with _bill(path) as (bill, detail_name, summary_name):
        account, period = _preamble(bill, detail_name)
        stated_summary = _summary(bill, summary_name)
    info = StatementInfo(
        format=FORMAT,
        source=source or account or FORMAT,
        statement_id=Path(detail_name).name,
        period_start=period[0] if period else None,
        period_end=period[-1] if period else None,
        currency=CURRENCY,
    )
    statement = Statement(info, iter(()))
    statement.lines = _lines(path, statement, stated_summary)
    return statement


@contextmanager
def _bill(path: Path) -> Iterator[tuple[zipfile.ZipFile, str, str]]:
    try:
        bill = zipfile.ZipFile(path)
    except _OPEN_FAULTS as error:
        raise MalformedStatement(f"the file is not a ZIP archive ({error})", field="zip") from None
    with bill:
        names = {_member_name(info): info.filename for info in bill.infolist()}
        detail = next((names[name] for name in names if name.endswith(DETAIL_SUFFIX)), None)
        summary = next((names[name] for name in names if name.endswith(SUMMARY_SUFFIX)), None)
        if detail is None:
            raise MalformedStatement(f"the ZIP has no *{DETAIL_SUFFIX} detail file", field="zip")
        if summary is None:
            raise MalformedStatement(f"the ZIP has no *{SUMMARY_SUFFIX} summary file", field="zip")
        yield bill, detail, summary


def _member_name(info: zipfile.ZipInfo) -> str:
    """Alipay's ZIPs store GBK names without the UTF-8 flag; zipfile reads those as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode(ENCODING)
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


@contextmanager
def _text_lines(bill: zipfile.ZipFile, member: str) -> Iterator[Iterator[str]]:
    """A member's lines, GBK-decoded one by one; a UTF-8 file is named as such. A context,
    so the member is closed however its reader stops."""
    try:
        with bill.open(member) as raw:
            lines = physical_lines(raw)
            first = next(lines, b"")
            if _is_utf8(first):
                raise MalformedStatement(
                    "the file is UTF-8 text: Alipay bills are GBK", line=1, field="encoding"
                )
            yield decoded_lines(_chain(first, lines), ENCODING)
    except _READ_FAULTS as error:  # raised where the lines are read, thrown back here
        raise MalformedStatement(f"{Path(member).name} is corrupt ({error})", field="zip") from None


def _is_utf8(raw: bytes) -> bool:
    if raw.startswith(b"\xef\xbb\xbf"):
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not raw.isascii()  # Chinese GBK text is almost never valid UTF-8 as well


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _preamble(bill: zipfile.ZipFile, member: str) -> tuple[str | None, list[date]]:
    """The account and period from the comment lines above the table."""
    account: str | None = None
    period: list[date] = []
    with _text_lines(bill, member) as texts:
        for line_no, text in enumerate(texts, start=1):
            if not text.startswith("#"):
                break
            _refuse_nul(text, line_no)
            if found := _ACCOUNT.match(text):
                account = found.group(1)
            if "起始日期" in text:
                period = _period(text, line_no)
    return account, period


def _period(text: str, line_no: int) -> list[date]:
    try:
        return [date(int(y), int(m), int(d)) for y, m, d in _PERIOD.findall(text)]
    except ValueError:
        raise MalformedStatement(
            f"{shown(text.strip())} holds no valid date", line=line_no, field="起始日期"
        ) from None


def _refuse_nul(text: str, line_no: int) -> None:
    if "\x00" in text:
        raise MalformedStatement(
            "a NUL character: no text may hold one", line=line_no, field="comment"
        )


def _summary(bill: zipfile.ZipFile, member: str) -> _Stated:
    """The 合计 row of the summary file (small: one row per store)."""
    with _text_lines(bill, member) as texts:
        return _total_row(Rows(texts))


def _total_row(rows: Rows) -> _Stated:
    columns: Columns | None = None
    for row in rows:
        line_no = rows.line_num
        if not row or row[0].startswith("#"):
            _refuse_nul(",".join(row), line_no)
            continue
        if columns is None:
            columns = Columns(row, _SUMMARY_COLUMNS, line=line_no)
        elif _TOTAL_MARK in (cell.strip() for cell in row):
            columns.check_row(row, line=line_no)
            return _Stated(
                trades=count(columns.get(row, "trades"), line=line_no, field="交易订单总笔数"),
                refunds=count(columns.get(row, "refunds"), line=line_no, field="退款订单总笔数"),
                received=_money(columns, row, "received", line_no),
                service_fee=_money(columns, row, "service_fee", line_no),
            )
    raise MalformedStatement(f"the summary file has no {_TOTAL_MARK} row", field=_TOTAL_MARK)


def _lines(path: Path, statement: Statement, stated: _Stated) -> Iterator[StatementLine]:
    sums = _Sums()
    footer: list[str] = []
    with _bill(path) as (bill, detail_name, _), _text_lines(bill, detail_name) as texts:
        rows = Rows(texts)
        columns: Columns | None = None
        for row in rows:
            line_no = rows.line_num
            if row and row[0].startswith("#"):
                _refuse_nul(",".join(row), line_no)
                if columns is not None:
                    footer.append(",".join(row))
                continue
            if not row:
                continue
            if columns is None:
                columns = Columns(row, _DETAIL_COLUMNS, line=line_no, optional=_DETAIL_OPTIONAL)
                continue
            columns.check_row(row, line=line_no)
            line = _line(columns, row, line_no, sums)
            yield line
        last_line = rows.line_num
    if columns is None:
        raise MalformedStatement("the detail file has no table", line=last_line, field="header")
    _check_footer(footer, sums, last_line)
    _check_summary(stated, sums)
    statement.totals = ControlTotals(
        count=sums.trades + sums.refunds, credits=sums.trade_amount, debits=sums.refund_received
    )


def _line(columns: Columns, row: list[str], line_no: int, sums: _Sums) -> StatementLine:
    kind = columns.get(row, "kind")
    trade_no = columns.get(row, "trade_no")
    if not trade_no:
        raise MalformedStatement("the trade number is empty", line=line_no, field="支付宝交易号")
    received = _money(columns, row, "received", line_no)
    service_fee = _money(columns, row, "service_fee", line_no)
    sums.service_fee += service_fee
    raw = {
        "支付宝交易号": trade_no,
        "商户订单号": columns.get(row, "order_no"),
        "商家实收（元）": columns.get(row, "received"),
        "服务费（元）": columns.get(row, "service_fee"),
    }
    if columns.has("store"):
        raw["门店编号"] = columns.get(row, "store")
    booked_at = local_time(
        columns.get(row, "finished_at"), zone=SHANGHAI, line=line_no, field="完成时间"
    )
    if kind == TRADE:
        value = _money(columns, row, "order_amount", line_no)
        _require_positive(value, line_no, "订单金额（元）")
        sums.trades += 1
        sums.trade_received += received
        sums.trade_amount += value
        return StatementLine(
            line_no=line_no, source_ref=trade_no, kind=LineKind.PAYIN,
            direction=Direction.CREDIT, amount=value, currency=CURRENCY, booked_at=booked_at,
            channel_txn_id=trade_no, reference=columns.get(row, "order_no") or None,
            fee=max(0, -service_fee), raw=raw,
        )  # fmt: skip
    if kind == REFUND:
        refund_no = columns.get(row, "refund_no")
        if not refund_no:
            raise MalformedStatement(
                "a refund needs its request number", line=line_no, field="退款批次号/请求号"
            )
        _require_positive(-received, line_no, "商家实收（元）")
        sums.refunds += 1
        sums.refund_received += -received
        return StatementLine(
            line_no=line_no, source_ref=f"{trade_no}/{refund_no}", kind=LineKind.REFUND,
            direction=Direction.DEBIT, amount=-received, currency=CURRENCY, booked_at=booked_at,
            channel_txn_id=None, reference=refund_no, fee=max(0, -service_fee), raw=raw,
        )  # fmt: skip
    raise MalformedStatement(f"unknown business type {shown(kind)}", line=line_no, field="业务类型")


def _check_footer(footer: list[str], sums: _Sums, last_line: int) -> None:
    text = "\n".join(footer)
    trades, refunds = _TRADE_FOOTER.search(text), _REFUND_FOOTER.search(text)
    if trades is None or refunds is None:
        raise MalformedStatement(
            "the detail file ends without its 交易合计/退款合计 footer (truncated?)",
            line=last_line + 1, field="交易合计",
        )  # fmt: skip
    checks = (
        ("交易合计", count(trades.group(1), line=0, field="交易合计"), sums.trades),
        ("交易合计", abs(_stated_money(trades.group(2))), sums.trade_received),
        ("退款合计", count(refunds.group(1), line=0, field="退款合计"), sums.refunds),
        ("退款合计", abs(_stated_money(refunds.group(2))), sums.refund_received),
    )
    for field_name, stated, counted in checks:
        _expect(stated, counted, field_name)


def _check_summary(stated: _Stated, sums: _Sums) -> None:
    file = "the summary file"
    _expect(stated.trades, sums.trades, "交易订单总笔数", file)
    _expect(stated.refunds, sums.refunds, "退款订单总笔数", file)
    _expect(stated.received, sums.trade_received - sums.refund_received, "商家实收（元）", file)
    _expect(stated.service_fee, sums.service_fee, "服务费（元）", file)


def _expect(stated: int, counted: int, field_name: str, where: str = "the footer") -> None:
    if stated != counted:
        raise MalformedStatement(
            f"{where} says {stated}, the detail rows add up to {counted}", field=field_name
        )


def _money(columns: Columns, row: list[str], field_name: str, line_no: int) -> int:
    return amount(
        columns.get(row, field_name), CURRENCY, line=line_no, field=_DETAIL_NAMES[field_name]
    )


def _stated_money(text: str) -> int:
    return amount(text, CURRENCY, line=0, field="footer")


def _require_positive(value: int, line_no: int, field_name: str) -> None:
    if value <= 0:
        raise MalformedStatement("the amount must be above zero", line=line_no, field=field_name)
