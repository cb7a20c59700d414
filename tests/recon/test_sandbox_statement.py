"""The sandbox bank's daily statement, parsed: by column name, with its summary checked."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paycore.recon.csv_columns import SHANGHAI
from paycore.recon.model import (
    ControlTotals,
    Counterparty,
    Direction,
    LineKind,
    LineStatus,
    MalformedStatement,
    StatementLine,
)
from paycore.recon.sandbox_statement import parse
from paycore.sandbox_bank import statement as bank_statement
from paycore.sandbox_bank.credits import Credit
from paycore.sandbox_bank.statement import render_statement

FIXTURE = Path(__file__).parent / "fixtures" / "sandbox" / "statement_2026-11-25.csv"
DAY = date(2026, 11, 25)


def _bank_line(number: str, label: str, amount: int, **more: object) -> StatementLine:
    values: dict[str, object] = {
        "line_no": 0, "source_ref": number, "kind": LineKind.PAYIN, "direction": Direction.CREDIT,
        "amount": amount, "currency": "CNY", "booked_at": datetime(2026, 11, 25, tzinfo=UTC),
        "channel_txn_id": number, "value_date": DAY, "raw": {"Type": label, "Bank Txn No": number},
    }  # fmt: skip
    values.update(more)
    return StatementLine(**values)  # type: ignore[arg-type]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "statement.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _fixture_with(old: str, new: str, tmp_path: Path) -> Path:
    text = FIXTURE.read_text(encoding="utf-8")
    assert old in text
    return _write(tmp_path, text.replace(old, new, 1))


def _error(path: Path) -> MalformedStatement:
    with pytest.raises(MalformedStatement) as caught:
        list(parse(path).lines)
    return caught.value


def test_the_fixture_statement_parses_to_its_known_lines_and_totals() -> None:
    statement = parse(FIXTURE, source="sandbox_cny")

    lines = list(statement.lines)

    assert statement.info.format == "sandbox_csv"
    assert statement.info.source == "sandbox_cny"
    assert (statement.info.period_start, statement.info.period_end) == (DAY, DAY)
    assert lines == [
        _bank_line("BT01KSANDBOX0000000000001", "PAYIN", 10_000, line_no=2, fee=60,
                   reference="pay_sandbox_0001",
                   booked_at=datetime(2026, 11, 24, 16, 0, tzinfo=UTC)),
        _bank_line("BT01KSANDBOX0000000000002", "REFUND", 2_500, line_no=3, kind=LineKind.REFUND,
                   direction=Direction.DEBIT, reference="rf_sandbox_0001",
                   booked_at=datetime(2026, 11, 25, 1, 15, tzinfo=UTC)),
        _bank_line("BT01KSANDBOX0000000000003", "PAYOUT", 5_000, line_no=4, kind=LineKind.PAYOUT,
                   direction=Direction.DEBIT, reference="po_sandbox_0001",
                   booked_at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC)),
        _bank_line("BT01KSANDBOX0000000000003", "RETURN", 5_000, line_no=5, kind=LineKind.PAYOUT,
                   source_ref="BT01KSANDBOX0000000000003/RETURN", reference="po_sandbox_0001",
                   booked_at=datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)),
    ]  # fmt: skip
    assert all(line.status is LineStatus.SUCCEEDED for line in lines)
    assert statement.totals == ControlTotals(count=4, credits=15_000, debits=7_500)


def test_the_totals_are_known_only_once_the_lines_are_read() -> None:
    statement = parse(FIXTURE)

    assert statement.totals == ControlTotals()
    list(statement.lines)
    assert statement.totals.count == 4


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["PAYIN", "REFUND", "PAYOUT", "RETURN"]),
            st.integers(min_value=1, max_value=10**11),
            st.integers(min_value=0, max_value=10**6),
            st.sampled_from(["CNY", "USD", "JPY"]),
        ),
        max_size=30,
    )
)
def test_whatever_the_sandbox_bank_renders_parses_back_to_the_same_money(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int, int, str]]
) -> None:
    zone = SHANGHAI
    rendered = [
        bank_statement.StatementLine(
            finished_at=datetime(2026, 11, 25, 2, 0, index % 60, tzinfo=UTC),
            bank_txn_no=f"BT{index:04d}", reference=f"ref_{index}", label=label,
            amount_minor=amount, fee_minor=fee, currency=code,
        )
        for index, (label, amount, fee, code) in enumerate(rows)
    ]  # fmt: skip
    path = tmp_path_factory.mktemp("bank") / "statement.csv"
    path.write_bytes(render_statement(rendered, DAY, zone))

    statement = parse(path)
    lines = list(statement.lines)

    assert [(line.amount, line.fee, line.currency) for line in lines] == [
        (line.amount_minor, line.fee_minor, line.currency) for line in rendered
    ]
    assert [line.raw["Type"] for line in lines] == [line.label for line in rendered]
    assert statement.totals.count == len(rows)
    if len({code for *_, code in rows}) == 1:
        credits = sum(amount for label, amount, _, _ in rows if label in {"PAYIN", "RETURN"})
        assert statement.totals.credits == credits


def test_columns_are_found_by_name_whatever_their_order(tmp_path: Path) -> None:
    text = FIXTURE.read_text(encoding="utf-8").splitlines()
    reordered = []
    for row in text[:5]:
        cells = row.split(",")
        reordered.append(",".join([cells[8], *cells[:8]]))
    path = _write(tmp_path, "\n".join(reordered + text[5:]) + "\n")

    assert [line.amount for line in parse(path).lines] == [10_000, 2_500, 5_000, 5_000]


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        ("4,CNY,100.00", "4,CNY,100.01", 7, "Payin Amount"),
        ("4,CNY,", "5,CNY,", 7, "Total Count"),
        ("0.60,74.40", "0.60,74.41", 7, "Net Amount"),
        ("PAYIN,100.00", "PAYIN,1OO.00", 2, "Amount"),
        ("REFUND,25.00", "CHARGEBACK,25.00", 3, "Type"),
        ("2026-11-25 09:15:00", "25/11/2026 09:15", 3, "Finished At"),
        ("Merchant Ref,", "", 1, "Merchant Ref"),
    ],
)
def test_a_bad_statement_is_refused_naming_its_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str
) -> None:
    error = _error(_fixture_with(old, new, tmp_path))

    assert (error.code, error.line, error.field) == ("malformed_statement", line, field)


def test_a_row_with_a_shifted_column_is_refused_on_its_line(tmp_path: Path) -> None:
    error = _error(_fixture_with("rf_sandbox_0001,", "rf_sandbox_0001,extra,", tmp_path))

    assert error.line == 3
    assert "10 fields" in error.detail


def test_a_statement_cut_before_its_summary_is_refused(tmp_path: Path) -> None:
    text = FIXTURE.read_text(encoding="utf-8").splitlines()
    error = _error(_write(tmp_path, "\n".join(text[:4]) + "\n"))

    assert (error.line, error.field) == (5, "Total Count")


def test_a_currency_missing_from_the_summary_is_refused(tmp_path: Path) -> None:
    path = _fixture_with("RETURN,50.00,0.00,CNY", "RETURN,50.00,0.00,USD", tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        "4,CNY,100.00,25.00,50.00,50.00,0.60,74.40", "3,CNY,100.00,25.00,50.00,0.00,0.60,24.40"
    )
    error = _error(_write(tmp_path, text))

    assert error.field == "Total Count"
    assert "USD" in error.detail


def test_an_empty_day_has_no_lines_and_a_zero_count(tmp_path: Path) -> None:
    zone = SHANGHAI
    path = tmp_path / "empty.csv"
    path.write_bytes(render_statement([], DAY, zone))

    statement = parse(path)

    assert list(statement.lines) == []
    assert statement.info.period_start is None
    assert statement.totals == ControlTotals(count=0)


def test_bytes_that_are_not_utf8_are_refused_on_their_line(tmp_path: Path) -> None:
    path = _fixture_with("pay_sandbox_0001", "pay_\u6c47\u6b3e", tmp_path)
    path.write_bytes(path.read_bytes().replace("汇款".encode(), "汇款".encode("gbk")))

    error = _error(path)

    assert (error.line, error.field) == (2, "encoding")


def test_a_credit_transfer_received_parses_with_the_account_credited_and_its_payer(
    tmp_path: Path,
) -> None:
    credit = Credit(
        bank_txn_no="BT9", merchant_id="paycore", account="9558800000000001",
        amount_minor=50_000, currency="CNY", payer_account="6222021234567890128",
        payer_name="王五", booked_at=datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
    )  # fmt: skip
    lines = bank_statement.statement_lines([], DAY, SHANGHAI, [credit])
    path = tmp_path / "statement.csv"
    path.write_bytes(render_statement(lines, DAY, SHANGHAI))

    statement = parse(path, source="sandbox")
    [line] = list(statement.lines)

    assert (line.kind, line.direction, line.amount, line.reference) == (
        LineKind.PAYIN, Direction.CREDIT, 50_000, None,
    )  # fmt: skip
    assert line.account == "9558800000000001"
    assert line.counterparty == Counterparty("6222021234567890128", "王五")
    assert statement.totals == ControlTotals(count=1, credits=50_000, debits=0)
