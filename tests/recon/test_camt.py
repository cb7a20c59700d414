"""camt.053 / camt.054: validated against the XSD, streamed, bound with xsdata."""

from __future__ import annotations

import dataclasses
import tempfile
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycore.recon import camt, xsd
from paycore.recon.camt_writer import StatementHeader, write_camt053
from paycore.recon.model import (
    ControlTotals,
    Counterparty,
    Direction,
    LineKind,
    LineStatus,
    MalformedStatement,
    StatementInfo,
    StatementLine,
)

FIXTURES = Path(__file__).parent / "fixtures" / "camt"
BAD = FIXTURES / "bad"


def _noon(day: int) -> datetime:
    return datetime(2024, 5, day, 12, tzinfo=UTC)


def _code(text: str) -> dict[str, str]:
    return {"bank_transaction_code": text}


def _without_new_fields(lines: list[StatementLine]) -> list[StatementLine]:
    """The fields these tests predate (business day, bank kind: test_camt_real_world.py)."""
    return [dataclasses.replace(line, business_date=None, bank_kind=None) for line in lines]


def test_a_camt053_v02_statement_parses_into_exactly_its_entries() -> None:
    statement = camt.parse(FIXTURES / "camt053_v02.xml")

    lines = _without_new_fields(list(statement.lines))

    credit, debit = Direction.CREDIT, Direction.DEBIT
    booked, pending = LineStatus.SUCCEEDED, LineStatus.PENDING
    assert lines == [
        StatementLine(1, "BK-0001", LineKind.PAYIN, credit, 25000, "EUR",
                      datetime(2024, 5, 1, 8, 15, tzinfo=UTC), booked, "SEPA-TX-1001",
                      "pay_01HX1", 0, date(2024, 5, 1), _code("PMNT/RCDT/ESCT")),
        StatementLine(2, "BK-0002", LineKind.PAYIN, credit, 9990, "EUR", _noon(1), booked,
                      "BK-0002", "pay_01HX2", 35, None, _code("PMNT/RCDT/ESCT")),
        StatementLine(3, "BK-0003", LineKind.PAYOUT, debit, 120000, "EUR",
                      datetime(2024, 5, 1, 16, tzinfo=UTC), booked, "SEPA-TX-1003",
                      "po_01HX3", 0, None, _code("PMNT/ICDT/ESCT")),
        StatementLine(4, "BK-0004", LineKind.PAYIN, credit, 4000, "EUR", _noon(2), pending,
                      "BK-0004", None, 0, date(2024, 5, 2), _code("PMNT/RCDT/ESCT")),
        StatementLine(5, "BK-0005", LineKind.FEE, debit, 500, "EUR", _noon(1), booked,
                      "BK-0005", None, 0, None, _code("ACMT/MDOP/CHRG")),
        StatementLine(6, "STMT-2024-05-01:6", LineKind.REFUND, debit, 3000, "EUR", _noon(1),
                      booked, None, "rf_01HX6", 0, None, _code("PMNT/RCDT/RRTN")),
        StatementLine(7, "BK-0007", LineKind.OTHER, credit, 50, "EUR", _noon(1), booked,
                      "BK-0007", None, 0, None, _code("ACMT/MCOP/INTR")),
    ]  # fmt: skip


def test_a_statement_names_its_account_period_and_signed_balances() -> None:
    statement = camt.parse(FIXTURES / "camt053_v02.xml")

    assert statement.info == StatementInfo(
        format="camt053",
        source="DE89370400440532013000",
        statement_id="STMT-2024-05-01",
        period_start=date(2024, 5, 1),
        period_end=date(2024, 5, 1),
        currency="EUR",
        opening_balance=1_000_000,
        closing_balance=911_540,
    )


def test_the_source_given_by_the_caller_names_the_statement() -> None:
    statement = camt.parse(FIXTURES / "camt053_v02.xml", source="bank_de")

    assert statement.info.source == "bank_de"


def test_control_totals_are_known_once_the_lines_are_exhausted() -> None:
    statement = camt.parse(FIXTURES / "camt053_v02.xml")
    assert statement.totals == ControlTotals()

    for _line in statement.lines:
        pass

    assert statement.totals == ControlTotals(count=7, credits=39040, debits=123500)


def test_a_camt053_v08_statement_reads_status_choices_charge_records_and_batches() -> None:
    statement = camt.parse(FIXTURES / "camt053_v08.xml")

    lines = _without_new_fields(list(statement.lines))

    assert statement.info.source == "6222021234567890"
    assert (statement.info.currency, statement.info.opening_balance) == ("CNY", 0)
    assert statement.info.closing_balance == 138800
    assert lines == [
        StatementLine(1, "CN-01", LineKind.PAYIN, Direction.CREDIT, 188800, "CNY",
                      datetime(2024, 5, 1, 1, 30, tzinfo=UTC), LineStatus.SUCCEEDED,
                      "CNAPS-77", "pay_cn_1", 188, None, _code("PMNT/RCDT/DMCT"),
                      account="9558800000000001",
                      counterparty=Counterparty("6222021234567890128", "王五")),
        StatementLine(2, "CN-02", LineKind.PAYOUT, Direction.DEBIT, 50000, "CNY", _noon(1),
                      LineStatus.SUCCEEDED, "CN-02", "po_cn_2", 0, None,
                      _code("PMNT/ICDT/DMCT"),
                      counterparty=Counterparty("DE89370400440532013000", "李四")),
        StatementLine(3, "CN-03", LineKind.PAYIN, Direction.CREDIT, 6660, "CNY", _noon(2),
                      LineStatus.PENDING, "CN-03", None, 0, date(2024, 5, 2),
                      {"bank_transaction_code": "TRF", "batch_transactions": "2"}),
    ]  # fmt: skip
    assert statement.totals == ControlTotals(count=3, credits=195460, debits=50000)


def test_a_camt054_notification_reads_times_without_offset_as_utc() -> None:
    statement = camt.parse(FIXTURES / "camt054_v02.xml")

    lines = list(statement.lines)

    assert (statement.info.format, statement.info.statement_id) == ("camt054", "NTF-0001-1")
    assert statement.info.opening_balance is None
    assert [(line.booked_at, line.channel_txn_id, line.reference) for line in lines] == [
        (datetime(2024, 5, 1, 10, 59, tzinfo=UTC), "NT-1-TX", "pay_01HY1"),
        (datetime(2024, 5, 1, 10, 59, 30, tzinfo=UTC), "NT-2", "po_01HY2"),
    ]
    assert statement.totals == ControlTotals(count=2, credits=7500, debits=2000)


@pytest.mark.parametrize(
    ("name", "line", "field", "words"),
    [
        ("truncated.xml", 67, "/Document/BkToCstmrStmt/Stmt/Ntry", "not well-formed XML"),
        ("wrong_encoding.xml", 60, None, "Invalid bytes in character encoding"),
        ("wrong_namespace.xml", None, None, "unsupported message"),
        ("bad_currency_code.xml", 53, "/Document/BkToCstmrStmt/Stmt/Ntry[2]/Amt", "EURO"),
    ],
)
def test_a_file_that_is_not_valid_xml_for_its_xsd_is_refused_naming_its_first_error(
    name: str, line: int | None, field: str | None, words: str
) -> None:
    with pytest.raises(MalformedStatement) as refused:
        list(camt.parse(BAD / name).lines)  # validated as its entries are read

    assert (refused.value.code, refused.value.line, refused.value.field) == (
        "malformed_statement",
        line,
        field,
    )
    assert words in refused.value.detail


@pytest.mark.parametrize(
    ("name", "field", "words"),
    [
        ("three_decimals.xml", "Ntry[2]/Amt", "more decimals than EUR"),
        ("summary_disagrees.xml", "TxsSummry/TtlCdtNtries/Sum", "390.40"),
    ],
)
def test_a_file_whose_content_disagrees_with_itself_is_refused_while_streaming(
    name: str, field: str | None, words: str
) -> None:
    statement = camt.parse(BAD / name)

    with pytest.raises(MalformedStatement) as refused:
        list(statement.lines)

    assert refused.value.field == field
    assert words in refused.value.detail


def test_a_message_other_than_an_account_report_statement_or_notification_is_unsupported(
    tmp_path: Path,
) -> None:
    text = (FIXTURES / "camt053_v02.xml").read_text()
    cancellation = tmp_path / "camt056.xml"  # a payment cancellation request, not a statement
    cancellation.write_text(text.replace("camt.053.001.02", "camt.056.001.02"))

    with pytest.raises(MalformedStatement, match=r"unsupported message 'camt\.056\.001\.02'"):
        camt.parse(cancellation)


@pytest.mark.parametrize(
    "namespace",
    xsd.supported_namespaces("camt.052")
    + xsd.supported_namespaces("camt.053")
    + xsd.supported_namespaces("camt.054")
    + xsd.supported_namespaces("pain.001"),
)
def test_every_shipped_xsd_loads_for_streaming_validation(namespace: str) -> None:
    assert xsd.streaming_schema(namespace) is not None


def test_an_unknown_iso_message_has_no_xsd() -> None:
    with pytest.raises(MalformedStatement, match="no XSD"):
        xsd.schema_file("urn:iso:std:iso:20022:tech:xsd:camt.053.001.99")


_HEADER = StatementHeader(
    statement_id="GEN-1",
    account_iban="DE89370400440532013000",
    currency="EUR",
    created_at=datetime(2024, 5, 2, tzinfo=UTC),
    period_start=date(2024, 5, 1),
    period_end=date(2024, 5, 1),
    opening_balance=-500,
)
_KIND_DIRECTIONS = [
    (LineKind.PAYIN, Direction.CREDIT),
    (LineKind.PAYOUT, Direction.DEBIT),
    (LineKind.REFUND, Direction.DEBIT),
    (LineKind.FEE, Direction.DEBIT),
    (LineKind.OTHER, Direction.CREDIT),
]


@st.composite
def _lines(draw: st.DrawFn) -> list[StatementLine]:
    count = draw(st.integers(min_value=0, max_value=12))
    lines = []
    for position in range(1, count + 1):
        kind, direction = draw(st.sampled_from(_KIND_DIRECTIONS))
        lines.append(
            StatementLine(
                line_no=position,
                source_ref=f"REF-{position}",
                kind=kind,
                direction=direction,
                amount=draw(st.integers(min_value=1, max_value=10**12)),
                currency="EUR",
                booked_at=datetime(2024, 5, 1, tzinfo=UTC)
                + timedelta(seconds=draw(st.integers(0, 86399))),
                status=draw(st.sampled_from([LineStatus.SUCCEEDED, LineStatus.PENDING])),
                channel_txn_id=draw(st.none() | st.just(f"TX-{position}")),
                reference=draw(st.none() | st.just(f"pay_{position}")),
                fee=draw(st.integers(min_value=0, max_value=10_000)),
            )
        )
    return lines


def _comparable(line: StatementLine) -> tuple[object, ...]:
    # Without reference or TxId the bank's own reference stands in as the channel's id.
    return (
        line.line_no,
        line.source_ref,
        line.kind,
        line.direction,
        line.amount,
        line.booked_at,
        line.status,
        line.channel_txn_id or line.source_ref,
        line.reference,
        line.fee,
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_lines())
def test_what_the_writer_writes_the_parser_reads_back_line_for_line(
    lines: list[StatementLine],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "statement.xml"
        write_camt053(path, lines, _HEADER)

        statement = camt.parse(path)
        parsed = list(statement.lines)

    assert [_comparable(line) for line in parsed] == [_comparable(line) for line in lines]
    credits = sum(line.amount for line in lines if line.direction is Direction.CREDIT)
    debits = sum(line.amount for line in lines if line.direction is Direction.DEBIT)
    assert statement.totals == ControlTotals(count=len(lines), credits=credits, debits=debits)
    booked = sum(
        line.amount if line.direction is Direction.CREDIT else -line.amount
        for line in lines
        if line.status is LineStatus.SUCCEEDED
    )  # pending entries move no balance
    assert statement.info.closing_balance == _HEADER.opening_balance + booked
    assert [balance.difference for balance in statement.balances] == [0]


def _many_lines(count: int) -> Iterator[StatementLine]:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for position in range(1, count + 1):
        credit = position % 4 != 0
        yield StatementLine(
            line_no=position,
            source_ref=f"BK{position:09d}",
            kind=LineKind.PAYIN if credit else LineKind.PAYOUT,
            direction=Direction.CREDIT if credit else Direction.DEBIT,
            amount=100 + position,
            currency="EUR",
            booked_at=start + timedelta(seconds=position % 86400),
            channel_txn_id=f"TX{position}",
            reference=f"pay_{position}",
        )


@pytest.mark.slow
def test_parsing_five_times_the_entries_takes_no_more_memory(tmp_path: Path) -> None:
    """Streaming: the peak is set by one entry at a time, not by the file. (Sizes kept small:
    tracemalloc slows the binding down several times.)"""

    def peak_of(entries: int) -> int:
        path = tmp_path / f"big{entries}.xml"
        write_camt053(path, _many_lines(entries), _HEADER)
        tracemalloc.start()
        try:
            statement = camt.parse(path)
            assert sum(1 for _line in statement.lines) == entries
            assert statement.totals.count == entries
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_of(1_000), peak_of(5_000)

    assert large < small * 1.5 + 1024 * 1024, f"peaks {small / 1e6:.1f} MB, {large / 1e6:.1f} MB"
