"""WeChat Pay's summary total 订单总金额 (总交易额 in the older layout) is read two ways
in the wild: the sum over the pay-in rows, or the sum of 订单金额 over every row, a refund
row carrying its order's amount. A bill consistent with either imports; one consistent
with neither is refused; the row count and the other totals stay strict."""

from __future__ import annotations

from pathlib import Path

import pytest

from paycore.recon import wechat
from paycore.recon.model import ControlTotals, MalformedStatement
from paycore.recon.service import Recon

FIXTURES = Path(__file__).parent / "fixtures" / "wechat"
REFUND_TAIL = "`0.60%,`0.00,`30.00,"  # the refund row's 费率, 订单金额, 申请退款金额
SUMMARY = "`3,`188.88,`30.00,`0.00,`0.95,`188.88,`30.00"


def _current(tmp_path: Path, *, refund_order_amount: str = "0.00", summary: str = SUMMARY) -> Path:
    text = (FIXTURES / "all_current.csv").read_bytes().decode("utf-8")
    assert REFUND_TAIL in text and SUMMARY in text
    text = text.replace(REFUND_TAIL, f"`0.60%,`{refund_order_amount},`30.00,")
    path = tmp_path / "all.csv"
    path.write_bytes(text.replace(SUMMARY, summary).encode("utf-8"))
    return path


def _older(tmp_path: Path, *, refund_total_amount: str, order_total: str) -> Path:
    text = (FIXTURES / "all_older.csv").read_bytes().decode("utf-8")
    row, summary = "`REFUND,`CFT,`CNY,`0.00,", "`2,`10.00,`10.00,`0.00,`0.00"
    assert row in text and summary in text
    text = text.replace(row, f"`REFUND,`CFT,`CNY,`{refund_total_amount},")
    path = tmp_path / "older.csv"
    path.write_bytes(text.replace(summary, f"`2,`{order_total},`10.00,`0.00,`0.00").encode())
    return path


def _totals(path: Path) -> ControlTotals:
    statement = wechat.parse(path)
    list(statement.lines)
    return statement.totals


def _refusal(path: Path) -> MalformedStatement:
    with pytest.raises(MalformedStatement) as refused:
        _totals(path)
    return refused.value


def test_an_order_total_summing_the_pay_in_rows_imports(tmp_path: Path) -> None:
    path = _current(tmp_path, refund_order_amount="100.00", summary=SUMMARY)

    assert _totals(path) == ControlTotals(count=3, credits=18_888, debits=3_000)


def test_an_order_total_summing_every_rows_order_amount_imports(tmp_path: Path) -> None:
    summary = "`3,`188.88,`30.00,`0.00,`0.95,`288.88,`30.00"
    path = _current(tmp_path, refund_order_amount="100.00", summary=summary)

    assert _totals(path) == ControlTotals(count=3, credits=18_888, debits=3_000)


@pytest.mark.parametrize(("refund_amount", "order_total"), [("0.00", "10.00"),
                                                            ("10.00", "10.00"),
                                                            ("10.00", "20.00")])  # fmt: skip
def test_the_older_layouts_trade_total_is_read_both_ways_too(
    tmp_path: Path, refund_amount: str, order_total: str
) -> None:
    path = _older(tmp_path, refund_total_amount=refund_amount, order_total=order_total)

    assert _totals(path) == ControlTotals(count=2, credits=1_000, debits=1_000)


def test_an_order_total_consistent_with_neither_reading_is_refused_naming_both(
    tmp_path: Path,
) -> None:
    summary = "`3,`188.88,`30.00,`0.00,`0.95,`200.00,`30.00"
    refused = _refusal(_current(tmp_path, refund_order_amount="100.00", summary=summary))

    assert (refused.line, refused.field) == (6, "订单总金额")
    assert "18888" in refused.detail and "28888" in refused.detail


@pytest.mark.parametrize(
    ("summary", "field"),
    [
        ("`4,`188.88,`30.00,`0.00,`0.95,`288.88,`30.00", "总交易单数"),
        ("`2,`188.88,`30.00,`0.00,`0.95,`288.88,`30.00", "总交易单数"),
        ("`3,`188.88,`30.00,`0.00,`0.95,`288.88,`130.00", "申请退款总金额"),
        ("`3,`188.88,`30.00,`0.00,`1.13,`288.88,`30.00", "手续费总金额"),
    ],
)
def test_the_row_count_and_the_unambiguous_totals_stay_strict(
    tmp_path: Path, summary: str, field: str
) -> None:
    refused = _refusal(_current(tmp_path, refund_order_amount="100.00", summary=summary))

    assert (refused.line, refused.field) == (6, field)


def test_a_bill_totalling_every_row_is_imported_with_its_lines(
    recon: Recon, tmp_path: Path
) -> None:
    summary = "`3,`188.88,`30.00,`0.00,`0.95,`288.88,`30.00"
    path = _current(tmp_path, refund_order_amount="100.00", summary=summary)

    imported, created = recon.import_file(path, format="wechat", source="wechat")

    assert created
    assert (imported["line_count"], imported["credits"], imported["debits"]) == (3, 18_888, 3_000)
