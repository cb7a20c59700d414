"""camt files in the shapes banks really send (issue 10): lenient where meaning is safe,
strict where money is. Fixtures: tests/recon/fixtures/camt/real_world/ (README there)."""

from __future__ import annotations

import re
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycore.recon import camt, camt_schema, xsd
from paycore.recon.model import LineKind, LineStatus, MalformedStatement, Statement, Warnings

REAL_WORLD = Path(__file__).parent / "fixtures" / "camt" / "real_world"
CAMT = Path(__file__).parent / "fixtures" / "camt"

Shown = tuple[str, str, str, int, str, str | None]
"""(source_ref, kind, direction, amount, currency, reference) of a line."""


def _read(name: str) -> tuple[Statement, list[Shown]]:
    statement = camt.parse(REAL_WORLD / name)
    lines = [
        (line.source_ref, line.kind.value, line.direction.value, line.amount, line.currency,
         line.reference)
        for line in statement.lines
    ]  # fmt: skip
    return statement, lines


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "batch_entry.xml",
            [
                ("BATCH-77-1", "payout", "debit", 100000, "CHF", "po_batch_1"),
                ("BATCH-77-2", "payout", "debit", 30000, "CHF", "po_batch_2"),
                ("BATCH-77:3", "payout", "debit", 20000, "CHF", "RF18539007547034"),
                ("DD-5", "other", "debit", 25000, "CHF", "MANDATE-5"),
                ("CARD-9", "other", "debit", 12000, "CHF", None),
            ],
        ),
        ("counter_value.xml", [("CV-1", "payin", "credit", 48520, "CHF", "pay_cv_1")]),
        ("bic_newer_namespace.xml", [("BIC-1", "payin", "credit", 10000, "CHF", "pay_bic_1")]),
        ("bad_address_country.xml", [("ADR-1", "payin", "credit", 7500, "CHF", "pay_adr_1")]),
        (
            "net_summary.xml",
            [
                ("NET-1", "payin", "credit", 50000, "CHF", "pay_net_1"),
                ("NET-2", "payout", "debit", 20000, "CHF", "po_net_2"),
            ],
        ),
        (
            "missing_bank_code.xml",
            [
                ("NET-1", "payin", "credit", 50000, "CHF", "pay_net_1"),
                ("NET-2", "other", "debit", 20000, "CHF", "po_net_2"),
            ],
        ),
        (
            "several_statements.xml",
            [
                ("M1-1", "payin", "credit", 4000, "CHF", "pay_m1"),
                ("M2-1", "payout", "debit", 1000, "EUR", "po_m2"),
            ],
        ),
        (
            "concatenated.xml",
            [
                ("CAT-27", "payin", "credit", 6000, "CHF", "pay_cat_27"),
                ("CAT-28", "payin", "credit", 2000, "CHF", "pay_cat_28"),
            ],
        ),
        ("no_entries.xml", []),
        ("unbalanced.xml", [("UB-1", "payin", "credit", 50000, "CHF", "pay_ub_1")]),
    ],
)
def test_each_real_world_shape_imports_exactly_its_expected_lines(
    name: str, expected: list[Shown]
) -> None:
    _statement, lines = _read(name)

    assert lines == expected


def test_a_batch_entry_becomes_one_line_per_transaction_numbered_through_the_file() -> None:
    statement = camt.parse(REAL_WORLD / "batch_entry.xml")

    lines = list(statement.lines)

    assert [line.line_no for line in lines] == [1, 2, 3, 4, 5]
    assert [line.channel_txn_id for line in lines[:3]] == ["BATCH-77-1", "BATCH-77-2", None]
    assert {line.raw.get("batch_entry") for line in lines[:3]} == {"BATCH-77"}
    assert sum(line.amount for line in lines[:3]) == 150000  # the entry's 1500.00 CHF


def test_a_batch_whose_transactions_do_not_add_up_to_the_entry_is_refused(
    tmp_path: Path,
) -> None:
    text = (REAL_WORLD / "batch_entry.xml").read_text()
    changed = tmp_path / "batch.xml"
    changed.write_text(text.replace('<Amt Ccy="CHF">300.00</Amt>', '<Amt Ccy="CHF">310.00</Amt>'))

    with pytest.raises(MalformedStatement) as refused:
        list(camt.parse(changed).lines)

    assert (refused.value.line, refused.value.field) == (34, "Ntry[1]/Amt")  # where it starts
    assert "add up to 151000" in refused.value.detail


def test_a_debit_is_a_payout_only_when_its_bank_transaction_code_says_so() -> None:
    statement = camt.parse(REAL_WORLD / "batch_entry.xml")

    lines = list(statement.lines)

    assert [(line.kind, line.bank_kind) for line in lines[3:]] == [
        (LineKind.OTHER, "PMNT/RDDT/ESDD"),  # a direct debit taken from us: not a refund
        (LineKind.OTHER, "PMNT/CCRD/POSD"),  # a card payment: not one of our payouts
    ]


def test_an_entry_in_another_currency_than_the_account_is_refused_naming_it() -> None:
    statement = camt.parse(REAL_WORLD / "foreign_currency.xml")

    with pytest.raises(MalformedStatement) as refused:
        list(statement.lines)

    assert (refused.value.line, refused.value.field) == (29, "Ntry[1]/Amt/@Ccy")
    assert "an amount in EUR on an account in CHF" in refused.value.detail


def test_the_instructed_amount_in_another_currency_is_kept_beside_the_line() -> None:
    (line,) = camt.parse(REAL_WORLD / "counter_value.xml").lines

    assert (line.amount, line.currency) == (48520, "CHF")
    assert (line.counter_amount, line.counter_currency) == (50000, "EUR")


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        (
            "bic_newer_namespace.xml",
            [
                "/Document/BkToCstmrStmt/Stmt/Acct/Svcr/FinInstnId/BIC",
                "/Document/BkToCstmrStmt/Stmt/Ntry[1]/NtryDtls/TxDtls/RltdAgts/DbtrAgt/FinInstnId/BIC",
                "/Document/BkToCstmrStmt/Stmt/Ntry[1]/NtryDtls/TxDtls/Amt",
            ],
        ),
        (
            "bad_address_country.xml",
            [
                "/Document/BkToCstmrStmt/Stmt/Ntry[1]/NtryDtls/TxDtls/RltdPties/Dbtr/PstlAdr/Ctry",
                "/Document/BkToCstmrStmt/Stmt/Ntry[1]/NtryDtls/TxDtls/RltdPties/Dbtr/PstlAdr/AdrLine",
            ],
        ),
        ("missing_bank_code.xml", ["/Document/BkToCstmrStmt/Stmt/Ntry[2]/BkTxCd"]),
        ("net_summary.xml", []),
    ],
)
def test_a_deviation_that_touches_no_money_is_a_warning_and_the_file_imports(
    name: str, fields: list[str]
) -> None:
    statement, _lines = _read(name)

    shown = sorted(
        warning.split(": ", 1)[0].split("field ", 1)[1] for warning in statement.warnings.kept
    )
    assert shown == sorted(fields)
    assert statement.warnings.count == len(fields)


def test_a_missing_status_is_named_at_the_element_where_it_is_missing() -> None:
    # A statement's entries are booked (camt.053): the entry imports as booked, with a
    # warning at line 41, where Sts belongs (before BookgDt), not the entry's last element.
    # A notification's entry without Sts stays refused (test_camt_bank_samples.py).
    statement = camt.parse(REAL_WORLD / "missing_status.xml")

    assert [line.status for line in statement.lines] == [LineStatus.SUCCEEDED] * 2
    assert [text.split(":")[0] for text in statement.warnings.kept] == [
        "line 41, field /Document/BkToCstmrStmt/Stmt/Ntry[2]/Sts"
    ]


def test_a_total_stated_net_is_taken_and_one_that_is_neither_gross_nor_net_is_refused(
    tmp_path: Path,
) -> None:
    text = (REAL_WORLD / "net_summary.xml").read_text()
    wrong = tmp_path / "wrong.xml"
    wrong.write_text(text.replace("<Sum>300.00</Sum></TtlNtries>", "<Sum>301.00</Sum></TtlNtries>"))

    list(camt.parse(REAL_WORLD / "net_summary.xml").lines)  # net: imports
    with pytest.raises(MalformedStatement) as refused:
        list(camt.parse(wrong).lines)

    assert refused.value.field == "TxsSummry/TtlNtries/Sum"
    assert "300.00 or 700.00" in refused.value.detail


def test_every_statement_of_every_document_in_the_file_is_read_with_its_balances() -> None:
    for name, expected in [
        ("several_statements.xml", [("RW-MULTI-1", 0, 4000, 0), ("RW-MULTI-2", 10000, 9000, 0)]),
        ("concatenated.xml", [("RW-CAT-27", 0, 6000, 0), ("RW-CAT-28", 6000, 8000, 0)]),
        ("no_entries.xml", [("RW-EMPTY-1", 70000, 70000, 0)]),
        ("unbalanced.xml", [("RW-UNBAL-1", 100000, 190000, 40000)]),
    ]:
        statement, _lines = _read(name)
        found = [(b.statement_id, b.opening, b.closing, b.difference) for b in statement.balances]
        assert found == expected, name


def test_a_line_of_the_second_document_names_its_line_in_the_file(tmp_path: Path) -> None:
    text = (REAL_WORLD / "concatenated.xml").read_text()
    second = text.index("<?xml", 1)
    broken = tmp_path / "broken.xml"
    broken.write_text(
        text[:second] + text[second:].replace('<Amt Ccy="CHF">20.00', '<Amt Ccy="CHF">2O.00')
    )

    with pytest.raises(MalformedStatement) as refused:
        list(camt.parse(broken).lines)

    assert refused.value.line == text[: text.index('<Amt Ccy="CHF">20.00')].count("\n") + 1


def test_a_business_day_is_the_booking_date_as_the_bank_states_it() -> None:
    lines = list(camt.parse(REAL_WORLD / "batch_entry.xml").lines)

    # Booked at 21:40+02:00 on the 28th: 03:40 on the 29th in Shanghai, still the 28th.
    assert lines[0].booked_at.isoformat() == "2024-06-28T19:40:00+00:00"
    assert {line.business_date for line in lines} == {date(2024, 6, 28)}


def test_a_pending_entry_without_a_booking_date_takes_its_value_date_as_its_day() -> None:
    lines = list(camt.parse(CAMT / "camt053_v08.xml").lines)

    assert (lines[2].status, lines[2].business_date) == (LineStatus.PENDING, date(2024, 5, 2))


@pytest.mark.parametrize("cut_at", [200, 1500, 2200, 2900])
def test_a_file_cut_short_anywhere_is_refused_with_the_line_where_it_stops(
    tmp_path: Path, cut_at: int
) -> None:
    text = (REAL_WORLD / "concatenated.xml").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(text[:cut_at])

    with pytest.raises(MalformedStatement) as refused:
        list(camt.parse(cut).lines)

    assert refused.value.code == "malformed_statement"
    assert refused.value.line == text[:cut_at].count(b"\n") + 1
    assert refused.value.field  # the element libxml2 was in when the data ended
    assert "not well-formed XML" in refused.value.detail


@pytest.mark.parametrize("kept", [0.3, 0.6, 0.9])
def test_the_xsd_check_alone_refuses_a_file_cut_short(tmp_path: Path, kept: float) -> None:
    text = (CAMT / "camt053_v08.xml").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(text[: int(len(text) * kept)])

    with pytest.raises(MalformedStatement) as refused:
        xsd.validate(cut)

    assert "not well-formed XML" in refused.value.detail


def test_a_document_type_declaration_is_refused_and_no_entity_is_read() -> None:
    with pytest.raises(MalformedStatement) as refused:
        camt.parse(REAL_WORLD / "external_entity.xml")

    assert (refused.value.line, refused.value.field) == (2, "DOCTYPE")
    assert "root:" not in refused.value.detail  # nothing of /etc/passwd


def test_a_billion_laughs_is_refused_without_expanding_it(tmp_path: Path) -> None:
    laughs = '<!ENTITY l0 "ha">' + "".join(
        f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)
    )
    path = tmp_path / "laughs.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE Document [{laughs}]>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&l9;</Document>\n'
    )

    with pytest.raises(MalformedStatement) as refused:
        camt.parse(path)

    assert refused.value.field == "DOCTYPE"


def _batch_file(folder: Path, amounts: list[int], *, entry_amount: int) -> Path:
    """batch_entry.xml with its first entry made of `amounts` (minor units, CHF), and
    no TxsSummry (it counted the old entry)."""
    text = re.sub(
        r"      <TxsSummry>.*?</TxsSummry>\n",
        "",
        (REAL_WORLD / "batch_entry.xml").read_text(),
        flags=re.S,
    )
    start = text.index("        <NtryDtls>")
    end = text.index("        </NtryDtls>", start)
    details = "".join(
        f"          <TxDtls><Refs><EndToEndId>po_{n}</EndToEndId></Refs>"
        f'<Amt Ccy="CHF">{_major(amount)}</Amt><CdtDbtInd>DBIT</CdtDbtInd></TxDtls>\n'
        for n, amount in enumerate(amounts, start=1)
    )
    head = text[:start].replace("1500.00</Amt>", f"{_major(entry_amount)}</Amt>")
    path = folder / "batch.xml"
    path.write_text(head + "        <NtryDtls>\n" + details + text[end:])
    return path


def _major(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amounts=st.lists(st.integers(min_value=1, max_value=10**9), min_size=2, max_size=8))
def test_a_batch_splits_into_exactly_its_transactions_and_they_sum_to_the_entry(
    amounts: list[int],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _batch_file(Path(folder), amounts, entry_amount=sum(amounts))
        statement = camt.parse(path)
        lines = list(statement.lines)

    batch = lines[: len(amounts)]
    assert [line.amount for line in batch] == amounts
    assert [line.reference for line in batch] == [f"po_{n}" for n in range(1, len(amounts) + 1)]
    assert [line.line_no for line in lines] == list(range(1, len(amounts) + 3))
    assert statement.warnings.count == 0  # the file is valid camt.053.001.04


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=10**9), min_size=2, max_size=8),
    off_by=st.integers(min_value=1, max_value=10**6),
)
def test_a_batch_whose_total_differs_by_any_amount_is_refused(
    amounts: list[int], off_by: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _batch_file(Path(folder), amounts, entry_amount=sum(amounts) + off_by)
        with pytest.raises(MalformedStatement) as refused:
            list(camt.parse(path).lines)

    assert refused.value.field == "Ntry[1]/Amt"


def test_what_only_libxml2_refuses_is_judged_by_the_element_it_names() -> None:
    """The two validators read a few facets apart: what libxml2 alone refuses is never let
    through unsaid (camt_schema._unexplained)."""
    segment = camt_schema.Segment(0, 100, line_offset=40)
    warnings = Warnings()
    ns = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.04}"

    camt_schema._unexplained(
        f"Element '{ns}Ctry': [facet 'pattern'] not accepted", segment, warnings
    )
    with pytest.raises(MalformedStatement) as refused:
        camt_schema._unexplained(f"Element '{ns}Amt': not a decimal", segment, warnings)

    assert warnings.kept == [
        "document from line 41, field Ctry: Element 'Ctry': [facet 'pattern'] not accepted"
    ]
    assert refused.value.field == "Amt"


@pytest.mark.parametrize(
    ("joined", "block"),
    [
        ("{a}{b}", None),
        ("\ufeff{a}\n\n\ufeff{b}\n", None),  # each with its byte-order mark, blank lines
        ("\ufeff{a}\ufeff{b}", 7),  # blocks so small a declaration straddles two
    ],
)
def test_concatenated_documents_are_cut_where_each_begins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, joined: str, block: int | None
) -> None:
    text = (REAL_WORLD / "concatenated.xml").read_text()
    second = text.index("<?xml", 1)
    path = tmp_path / "joined.xml"
    path.write_text(joined.format(a=text[:second], b=text[second:]), encoding="utf-8")
    if block is not None:
        monkeypatch.setattr(camt_schema, "_BLOCK", block)

    lines = list(camt.parse(path).lines)

    assert [line.source_ref for line in lines] == ["CAT-27", "CAT-28"]
    assert len(camt_schema.segments(path)) == 2


def test_an_entry_of_zero_is_a_warning_not_a_line(tmp_path: Path) -> None:
    path = tmp_path / "zero.xml"
    path.write_text((REAL_WORLD / "counter_value.xml").read_text().replace("485.20", "0.00"))

    statement = camt.parse(path)
    lines = list(statement.lines)

    assert lines == []
    assert statement.warnings.kept == [
        "line 29, field Ntry[1]/Amt: an entry of 0 moves no money, not imported"
    ]
    assert [balance.difference for balance in statement.balances] == [0]
