"""camt files read as a stream: a conforming file is validated in C and each entry read
from lxml without binding it, in flat memory; whatever is wrong, wherever in the file, is
still refused with its line and element, and a refusal half way through stores nothing."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from paycore.recon import camt, store
from paycore.recon.camt_writer import StatementHeader, write_camt053
from paycore.recon.model import Direction, LineKind, MalformedStatement, StatementLine
from paycore.recon.service import INSERT_CHUNK, Recon

_HEADER = StatementHeader(
    statement_id="STREAM-1",
    account_iban="DE89370400440532013000",
    currency="EUR",
    created_at=datetime(2024, 5, 2, tzinfo=UTC),
    period_start=date(2024, 5, 1),
    period_end=date(2024, 5, 1),
)


def _lines(count: int) -> Iterator[StatementLine]:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for position in range(1, count + 1):
        yield StatementLine(
            line_no=position,
            source_ref=f"BK{position:09d}",
            kind=LineKind.PAYIN,
            direction=Direction.CREDIT,
            amount=100 + position,
            currency="EUR",
            booked_at=start + timedelta(seconds=position),
            channel_txn_id=f"TX{position}",
            reference=f"pay_{position}",
        )


def _statement(path: Path, entries: int) -> Path:
    write_camt053(path, _lines(entries), _HEADER)
    return path


def _entry_line(path: Path, source_ref: str) -> int:
    """The file's line of the entry with this AcctSvcrRef (one entry a line)."""
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if f"<AcctSvcrRef>{source_ref}</AcctSvcrRef>" in text:
            return number
    raise AssertionError(f"no entry {source_ref}")


def _replace_in_entry(path: Path, source_ref: str, old: str, new: str) -> int:
    lines = path.read_text().splitlines(keepends=True)
    number = _entry_line(path, source_ref)
    assert old in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    path.write_text("".join(lines))
    return number


@pytest.mark.slow
def test_a_statement_ten_times_larger_is_read_in_the_same_memory(tmp_path: Path) -> None:
    def peak_of(entries: int) -> int:
        path = _statement(tmp_path / f"big{entries}.xml", entries)
        tracemalloc.start()
        try:
            statement = camt.parse(path)
            assert sum(1 for _line in statement.lines) == entries
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_of(2_000), peak_of(20_000)

    assert large < small * 1.5 + 1024 * 1024, f"peaks {small / 1e6:.1f} MB, {large / 1e6:.1f} MB"


def test_an_entry_that_bends_the_xsd_deep_in_a_file_is_refused_naming_its_line(
    tmp_path: Path,
) -> None:
    path = _statement(tmp_path / "bent.xml", 3_000)
    line = _replace_in_entry(path, "BK000002500", "<Sts>BOOK</Sts>", "<Sts>DONE</Sts>")

    with pytest.raises(MalformedStatement) as refused:
        list(camt.parse(path).lines)

    assert refused.value.code == "malformed_statement"
    assert refused.value.line == line
    assert refused.value.field == "/Document/BkToCstmrStmt/Stmt/Ntry[2500]/Sts"


def test_an_entry_that_bends_the_xsd_where_no_money_is_deep_in_a_file_is_read_once_with_a_warning(
    tmp_path: Path,
) -> None:
    path = _statement(tmp_path / "bent.xml", 3_000)
    too_long = "<AddtlNtryInf>" + "x" * 501 + "</AddtlNtryInf></Ntry>"  # at most 500
    line = _replace_in_entry(path, "BK000002500", "</Ntry>", too_long)

    statement = camt.parse(path)
    refs = [line.source_ref for line in statement.lines]

    assert refs == [f"BK{position:09d}" for position in range(1, 3_001)]
    assert statement.warnings.count == 1
    assert statement.warnings.kept[0].startswith(f"line {line}, field ")
    assert "AddtlNtryInf" in statement.warnings.kept[0]


def test_an_entry_in_another_currency_half_way_through_stores_nothing(
    recon: Recon, tmp_path: Path
) -> None:
    entries = INSERT_CHUNK + 500  # past the first chunk written to the database
    path = _statement(tmp_path / "foreign.xml", entries)
    bad = f"BK{INSERT_CHUNK + 100:09d}"
    line = _replace_in_entry(path, bad, 'Ccy="EUR"', 'Ccy="USD"')

    with pytest.raises(MalformedStatement) as refused:
        recon.import_file(path, format="camt053", source="bank")

    assert (refused.value.line, refused.value.field) == (
        line,
        f"Ntry[{INSERT_CHUNK + 100}]/Amt/@Ccy",
    )
    with recon.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.lines)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(store.imports)).scalar_one() == 0


def test_comments_inside_an_entry_are_not_taken_for_its_elements(tmp_path: Path) -> None:
    path = _statement(tmp_path / "comments.xml", 3)
    _replace_in_entry(path, "BK000000002", "<Sts>", "<!-- booked --><Sts>")
    _replace_in_entry(path, "BK000000002", "</Amt>", "<!-- in euros --></Amt>")

    lines = list(camt.parse(path).lines)

    assert [(line.source_ref, line.amount) for line in lines][1] == ("BK000000002", 102)


def test_a_booking_date_with_an_offset_is_the_day_it_names(tmp_path: Path) -> None:
    path = _statement(tmp_path / "offset.xml", 2)
    text = path.read_text()
    written = text[text.index("<BookgDt>") : text.index("</BookgDt>") + len("</BookgDt>")]
    path.write_text(text.replace(written, "<BookgDt><Dt>2024-05-01+02:00</Dt></BookgDt>", 1))

    first = next(camt.parse(path).lines)

    assert first.business_date == date(2024, 5, 1)
    assert first.booked_at == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_a_time_of_24_00_is_refused_naming_the_entry_and_its_element(tmp_path: Path) -> None:
    """XSD allows 24:00:00 (the end of the day); no time of day is read from it."""
    path = _statement(tmp_path / "midnight.xml", 2)
    text = path.read_text()
    start = text.index("<BookgDt><DtTm>") + len("<BookgDt><DtTm>")
    end = text.index("</DtTm>", start)
    path.write_text(text[:start] + "2024-05-01T24:00:00" + text[end:])

    with pytest.raises(MalformedStatement) as refused:
        list(camt.parse(path).lines)

    assert refused.value.field == "Ntry[1]/BookgDt"
    assert refused.value.line == _entry_line(path, "BK000000001")


_V03_WITH_CHARGE_RECORDS = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.03"><BkToCstmrStmt>
<GrpHdr><MsgId>V03</MsgId><CreDtTm>2024-05-02T00:00:00</CreDtTm></GrpHdr>
<Stmt><Id>V03-1</Id><CreDtTm>2024-05-02T00:00:00</CreDtTm>
<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">0.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-05-01</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-05-01</Dt></Dt></Bal>
<Ntry><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2024-05-01</Dt></BookgDt><AcctSvcrRef>V03-A</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
<Chrgs><Rcrd><Amt Ccy="EUR">0.35</Amt></Rcrd>
<Rcrd><Amt Ccy="EUR">0.10</Amt><CdtDbtInd>CRDT</CdtDbtInd></Rcrd></Chrgs>
</Ntry>
</Stmt></BkToCstmrStmt></Document>
"""


def test_a_v03_entry_s_charges_are_its_records_less_those_credited_back(tmp_path: Path) -> None:
    """.03 is the first version with charge records (its `Chrgs` still repeats)."""
    path = tmp_path / "v03.xml"
    path.write_text(_V03_WITH_CHARGE_RECORDS)

    (line,) = list(camt.parse(path).lines)

    assert (line.source_ref, line.amount, line.fee) == ("V03-A", 10000, 35)
