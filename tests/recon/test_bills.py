"""Alipay and WeChat Pay trade bills, parsed by column name, their summaries checked."""

from __future__ import annotations

import tracemalloc
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paycore.recon import alipay, wechat
from paycore.recon.model import (
    ControlTotals,
    Direction,
    LineKind,
    LineStatus,
    MalformedStatement,
    Statement,
)
from paycore.recon.wechat import BillRow, write_wechat_bill

FIXTURES = Path(__file__).parent / "fixtures"
ACCOUNT = "20881234567890120156"
DETAIL = f"{ACCOUNT}_20261125_业务明细.csv"
SUMMARY = f"{ACCOUNT}_20261125_业务明细(汇总).csv"


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")  # as is: CRLF kept


def _alipay_zip(
    tmp_path: Path,
    layout: str = "a",
    *,
    detail: str | bytes | None = None,
    summary: str | None = None,
    members: tuple[str, ...] = (DETAIL, SUMMARY),
) -> Path:
    """The fixture texts as Alipay serves them: GBK bytes in a ZIP."""
    texts: dict[str, str | bytes] = {
        DETAIL: detail if detail is not None else _fixture(f"alipay/layout_{layout}_业务明细.csv"),
        SUMMARY: summary or _fixture(f"alipay/layout_{layout}_业务明细(汇总).csv"),
    }
    path = tmp_path / f"{ACCOUNT}_20261125.csv.zip"
    with zipfile.ZipFile(path, "w") as bill:
        for name in members:
            text = texts[name]
            bill.writestr(name, text if isinstance(text, bytes) else text.encode("gbk"))
    return path


def _error(statement_of: object) -> MalformedStatement:
    with pytest.raises(MalformedStatement) as caught:
        statement = statement_of() if callable(statement_of) else statement_of
        assert isinstance(statement, Statement)
        list(statement.lines)
    return caught.value


def _at(text: str) -> datetime:
    """A Shanghai wall-clock time as UTC (UTC+8, no daylight saving)."""
    local = datetime.fromisoformat(text)
    return local.replace(tzinfo=UTC) - (datetime(2000, 1, 1, 8) - datetime(2000, 1, 1))


# -- Alipay ---------------------------------------------------------------------------------


def test_an_alipay_bill_parses_to_its_known_pay_ins_and_refunds(tmp_path: Path) -> None:
    statement = alipay.parse(_alipay_zip(tmp_path))

    lines = list(statement.lines)

    assert statement.info.source == ACCOUNT
    assert (statement.info.period_start, statement.info.period_end) == (
        date(2026, 11, 25),
        date(2026, 11, 26),
    )
    assert [
        (line.line_no, line.source_ref, line.kind, line.direction, line.amount, line.fee,
         line.channel_txn_id, line.reference, line.booked_at)
        for line in lines
    ] == [
        (6, "2026112522001100000000000001", LineKind.PAYIN, Direction.CREDIT, 10_000, 60,
         "2026112522001100000000000001", "pay_alipay_0001", _at("2026-11-25 10:00:05")),
        (7, "2026112522001100000000000001/rf_alipay_0001", LineKind.REFUND, Direction.DEBIT,
         4_000, 0, None, "rf_alipay_0001", _at("2026-11-25 12:00:00")),
        (8, "2026112522001100000000000002", LineKind.PAYIN, Direction.CREDIT, 25_050, 150,
         "2026112522001100000000000002", "pay_alipay_0002", _at("2026-11-25 23:59:59")),
    ]  # fmt: skip
    assert all(line.currency == "CNY" and line.status is LineStatus.SUCCEEDED for line in lines)
    assert lines[1].raw["服务费（元）"] == "0.24"  # noqa: RUF001 - the bill's own name
    assert lines[0].raw["门店编号"] == "S001"
    assert statement.totals == ControlTotals(count=3, credits=35_050, debits=4_000)


def test_an_alipay_bill_in_another_column_order_without_stores_reads_the_same_way(
    tmp_path: Path,
) -> None:
    statement = alipay.parse(_alipay_zip(tmp_path, "b"), source="alipay_main")

    lines = list(statement.lines)

    assert statement.info.source == "alipay_main"
    assert [(line.kind, line.amount, line.fee, line.reference) for line in lines] == [
        (LineKind.PAYIN, 120_000, 720, "pay_alipay_0011"),
        (LineKind.REFUND, 120_000, 0, "rf_alipay_0011"),
    ]
    assert "门店编号" not in lines[0].raw
    assert statement.totals == ControlTotals(count=2, credits=120_000, debits=120_000)


def test_a_utf8_alipay_file_is_refused_as_the_wrong_encoding(tmp_path: Path) -> None:
    detail = _fixture("alipay/layout_a_业务明细.csv").encode("utf-8")

    error = _error(lambda: alipay.parse(_alipay_zip(tmp_path, detail=detail)))

    assert (error.line, error.field) == (1, "encoding")
    assert "UTF-8" in error.detail


def test_bytes_that_are_not_gbk_are_refused_on_their_line(tmp_path: Path) -> None:
    detail = _fixture("alipay/layout_a_业务明细.csv").encode("gbk")
    broken = detail.replace(b"pay_alipay_0002", b"pay_alipay_\x80\xff02")

    error = _error(lambda: alipay.parse(_alipay_zip(tmp_path, detail=broken)))

    assert (error.line, error.field) == (8, "encoding")


def test_a_zip_without_the_detail_file_is_refused(tmp_path: Path) -> None:
    error = _error(lambda: alipay.parse(_alipay_zip(tmp_path, members=(SUMMARY,))))

    assert error.field == "zip"
    assert "业务明细.csv" in error.detail


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bill.zip"
    path.write_bytes(_fixture("alipay/layout_a_业务明细.csv").encode("gbk"))

    assert _error(lambda: alipay.parse(path)).field == "zip"


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        ("商户订单号,", "", 5, "商户订单号"),  # a required column missing
        ("\t,100.00\t,100.00\t,", "\t,会员\t,100.00\t,", 6, "订单金额（元）"),  # noqa: RUF001
        ("\t,交易\t,会员充值", "\t,转账\t,会员充值", 8, "业务类型"),
        ("2026-11-25 12:00:00", "25/11/2026", 7, "完成时间"),
    ],
)
def test_a_bad_alipay_row_is_refused_naming_its_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str
) -> None:
    text = _fixture("alipay/layout_a_业务明细.csv")
    index = text.rindex(old) if field == "业务类型" else text.index(old)
    detail = text[:index] + new + text[index + len(old) :]

    error = _error(lambda: alipay.parse(_alipay_zip(tmp_path, detail=detail)))

    assert (error.line, error.field) == (line, field)


def test_an_alipay_row_with_a_shifted_column_is_refused_on_its_line(tmp_path: Path) -> None:
    text = _fixture("alipay/layout_a_业务明细.csv")
    detail = text.replace("pay_alipay_0002\t,", "pay_alipay_0002\t,extra\t,")

    error = _error(lambda: alipay.parse(_alipay_zip(tmp_path, detail=detail)))

    assert error.line == 8
    assert "26 fields" in error.detail


def test_an_alipay_bill_cut_before_its_footer_is_refused(tmp_path: Path) -> None:
    text = _fixture("alipay/layout_a_业务明细.csv")
    detail = text[: text.index("#-----------------------------------------业务明细列表结束")]

    error = _error(lambda: alipay.parse(_alipay_zip(tmp_path, detail=detail)))

    assert error.field == "交易合计"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("#交易合计：2笔", "#交易合计：3笔", "交易合计"),  # noqa: RUF001
        ("商家实收退款共-40.00元", "商家实收退款共-41.00元", "退款合计"),
    ],
)
def test_an_alipay_footer_that_disagrees_with_the_rows_is_refused(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    detail = _fixture("alipay/layout_a_业务明细.csv").replace(old, new)

    assert _error(lambda: alipay.parse(_alipay_zip(tmp_path, detail=detail))).field == field


def test_an_alipay_summary_that_disagrees_with_the_rows_is_refused(tmp_path: Path) -> None:
    summary = _fixture("alipay/layout_a_业务明细(汇总).csv").replace(
        "合计,,2,1,450.50,310.50,0.00,0.00,0.00,-1.86",
        "合计,,2,1,450.50,310.50,0.00,0.00,0.00,-1.87",
    )

    error = _error(lambda: alipay.parse(_alipay_zip(tmp_path, summary=summary)))

    assert error.field == "服务费（元）"  # noqa: RUF001 - the bill's own name


# -- WeChat Pay -----------------------------------------------------------------------------


def test_a_wechat_bill_parses_to_its_known_pay_ins_and_refunds() -> None:
    statement = wechat.parse(FIXTURES / "wechat" / "all_current.csv", source="wechat_main")

    lines = list(statement.lines)

    assert statement.info.source == "wechat_main"
    assert [
        (line.line_no, line.source_ref, line.kind, line.direction, line.status, line.amount,
         line.fee, line.channel_txn_id, line.reference, line.booked_at)
        for line in lines
    ] == [
        (2, "4200001234202611250000000001", LineKind.PAYIN, Direction.CREDIT,
         LineStatus.SUCCEEDED, 10_000, 60, "4200001234202611250000000001", "pay_wechat_0001",
         _at("2026-11-25 10:00:01")),
        (3, "50300001234202611250000000001", LineKind.REFUND, Direction.DEBIT,
         LineStatus.SUCCEEDED, 3_000, 0, "50300001234202611250000000001", "rf_wechat_0001",
         _at("2026-11-25 14:30:00")),
        (4, "4200001234202611250000000002", LineKind.PAYIN, Direction.CREDIT,
         LineStatus.SUCCEEDED, 8_888, 53, "4200001234202611250000000002", "pay_wechat_0002",
         _at("2026-11-25 23:59:59")),
    ]  # fmt: skip
    assert lines[1].raw["手续费"] == "-0.18"
    assert lines[1].raw["微信订单号"] == "4200001234202611250000000001"
    assert statement.totals == ControlTotals(count=3, credits=18_888, debits=3_000)


def test_a_wechat_bill_in_the_older_layout_reads_the_same_way() -> None:
    statement = wechat.parse(FIXTURES / "wechat" / "all_older.csv")

    lines = list(statement.lines)

    assert [(line.kind, line.status, line.amount, line.fee, line.reference) for line in lines] == [
        (LineKind.PAYIN, LineStatus.SUCCEEDED, 1_000, 6, "pay_wechat_0011"),
        (LineKind.REFUND, LineStatus.PENDING, 1_000, 0, "rf_wechat_0011"),
    ]
    assert statement.totals == ControlTotals(count=2, credits=1_000, debits=1_000)


def _wechat_file(tmp_path: Path, old: str, new: str, *, encoding: str = "utf-8") -> Path:
    text = _fixture("wechat/all_current.csv")
    assert old in text
    path = tmp_path / "wechat.csv"
    path.write_bytes(text.replace(old, new, 1).lstrip("\ufeff").encode(encoding))
    return path


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        (",商户订单号,", ",", 1, "商户订单号"),
        ("`0.60%,`100.00,", "`0.60%,`1O0.00,", 2, "订单金额"),
        ("`SUCCESS,`OTHERS", "`CLOSED,`OTHERS", 2, "交易状态"),
        ("`3,`188.88", "`4,`188.88", 6, "总交易单数"),
        ("`0.95,`188.88", "`0.96,`188.88", 6, "手续费总金额"),
        ("`188.88,`30.00\r\n", "`188.89,`30.00\r\n", 6, "订单总金额"),
    ],
)
def test_a_bad_wechat_bill_is_refused_naming_its_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str
) -> None:
    error = _error(lambda: wechat.parse(_wechat_file(tmp_path, old, new)))

    assert (error.code, error.line, error.field) == ("malformed_statement", line, field)


def test_a_wechat_row_with_an_amount_where_a_date_was_is_refused(tmp_path: Path) -> None:
    path = _wechat_file(tmp_path, "`2026-11-25 14:30:00,`wx", "`30.00,`wx")

    error = _error(lambda: wechat.parse(path))

    assert (error.line, error.field) == (3, "交易时间")


def test_a_wechat_row_with_a_shifted_column_is_refused_on_its_line(tmp_path: Path) -> None:
    path = _wechat_file(tmp_path, "`pay_wechat_0002,", "`pay_wechat_0002,`extra,")

    error = _error(lambda: wechat.parse(path))

    assert error.line == 4
    assert "28 fields" in error.detail


def test_a_wechat_bill_cut_before_its_summary_is_refused(tmp_path: Path) -> None:
    text = _fixture("wechat/all_current.csv")
    path = tmp_path / "cut.csv"
    path.write_text(text[: text.index("总交易单数")], encoding="utf-8")

    error = _error(lambda: wechat.parse(path))

    assert (error.line, error.field) == (5, "总交易单数")


def test_a_wechat_bill_with_its_summary_line_missing_is_refused(tmp_path: Path) -> None:
    text = _fixture("wechat/all_current.csv")
    path = tmp_path / "cut.csv"
    path.write_text(text[: text.rindex("`3,")], encoding="utf-8")

    assert _error(lambda: wechat.parse(path)).field == "总交易单数"


def test_gbk_bytes_in_a_wechat_bill_are_refused_on_their_line(tmp_path: Path) -> None:
    path = _wechat_file(tmp_path, "pay_wechat_0001", "pay_wechat_0001", encoding="gbk")

    error = _error(lambda: wechat.parse(path))

    assert (error.line, error.field) == (1, "encoding")


rows_strategy = st.lists(
    st.tuples(st.booleans(), st.integers(1, 10**11), st.integers(0, 10**6)), max_size=25
)


@settings(max_examples=40, deadline=None)
@given(rows_strategy)
def test_a_written_wechat_bill_parses_back_to_the_rows_written(
    tmp_path_factory: pytest.TempPathFactory, specs: list[tuple[bool, int, int]]
) -> None:
    rows = [
        BillRow(
            txn_id=f"42000{index:010d}", order_no=f"pay_{index}", amount=amount, fee=fee,
            booked_at_local=f"2026-11-25 10:{index % 60:02d}:00",
            refund_id=f"503{index:010d}" if refund else None,
            refund_no=f"rf_{index}" if refund else None,
        )
        for index, (refund, amount, fee) in enumerate(specs)
    ]  # fmt: skip
    path = tmp_path_factory.mktemp("wechat") / "bill.csv"

    written = write_wechat_bill(path, rows)
    statement = wechat.parse(path)
    lines = list(statement.lines)

    assert written == len(rows)
    assert [(line.amount, line.kind is LineKind.REFUND, line.reference) for line in lines] == [
        (row.amount, row.refund_id is not None, row.refund_no or row.order_no) for row in rows
    ]
    assert [line.fee for line in lines] == [0 if row.refund_id else row.fee for row in rows]
    assert statement.totals == ControlTotals(
        count=len(rows),
        credits=sum(row.amount for row in rows if row.refund_id is None),
        debits=sum(row.amount for row in rows if row.refund_id is not None),
    )


def test_a_big_wechat_bill_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    # 1.9 MB of file: read whole, or kept line by line, it is several times the bound below,
    # while a streaming read peaks near 30 KB (under tracemalloc, which slows reading 4x).
    count = 10_000
    write_wechat_bill(
        path,
        (
            BillRow(txn_id=f"42{index:012d}", order_no=f"pay_{index}", amount=100 + index,
                    booked_at_local="2026-11-25 10:00:00", fee=1)
            for index in range(count)
        ),
    )  # fmt: skip
    statement = wechat.parse(path)

    tracemalloc.start()
    seen = sum(1 for _ in statement.lines)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert seen == count
    assert peak < 512 * 1024  # a few lines at a time, not 10,000 of them
