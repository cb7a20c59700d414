"""camt files in shapes met in real banks' samples (issue 10, second probe): what a
statement says by itself (its one day, its entries all booked) fills in what the entries
leave out; what only the entry could say stays strict. Fixtures: real_world/ (README)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from paycore.recon import camt
from paycore.recon.model import LineStatus, MalformedStatement
from paycore.recon.service import Recon

REAL_WORLD = Path(__file__).parent / "fixtures" / "camt" / "real_world"


def _retyped(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    text = (REAL_WORLD / name).read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_statement_whose_entries_state_no_status_or_date_imports_on_its_one_day() -> None:
    statement = camt.parse(REAL_WORLD / "undated_statement.xml")
    lines = [
        (line.source_ref, line.direction.value, line.amount, line.currency, line.business_date,
         line.status, line.bank_kind)
        for line in statement.lines
    ]  # fmt: skip
    assert lines == [
        ("UND-1", "credit", 25050, "CHF", date(2024, 6, 28), LineStatus.SUCCEEDED, "INCOMING"),
        ("UND-2", "debit", 1000, "CHF", date(2024, 6, 28), LineStatus.SUCCEEDED, "CLEARING"),
    ]
    texts = " | ".join(statement.warnings.kept)
    assert "Sts" in texts and "CdtDbtInd" in texts and "Avlbty" in texts
    assert [(b.opening, b.closing, b.credits, b.debits) for b in statement.balances] == [
        (100000, 124050, 25050, 1000),
        (4200, 4200, 0, 0),
    ]


def test_a_notification_entry_without_status_is_still_refused(tmp_path: Path) -> None:
    """A camt.054 may notify pending money: without Sts nobody can say it is booked."""
    path = _retyped(
        tmp_path,
        "undated_statement.xml",
        ("camt.053.001.08", "camt.054.001.08"),
        ("BkToCstmrStmt>", "BkToCstmrDbtCdtNtfctn>"),
        ("<Stmt>", "<Ntfctn>"),
        ("</Stmt>", "</Ntfctn>"),
    )
    with pytest.raises(MalformedStatement, match=r"Ntry\[1\]/Sts"):
        list(camt.parse(path).lines)


def test_an_undated_entry_of_a_statement_spanning_days_is_refused(tmp_path: Path) -> None:
    """Two days in one statement: which day an undated entry belongs to is unknown."""
    path = _retyped(
        tmp_path,
        "undated_statement.xml",
        ("<Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"CHF\">1000.00</Amt><Dt><Dt>2024-06-28",
         "<Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"CHF\">1000.00</Amt><Dt><Dt>2024-06-27"),
    )  # fmt: skip
    with pytest.raises(MalformedStatement, match=r"line 8, field Ntry\[1\]/BookgDt"):
        list(camt.parse(path).lines)


def test_a_statement_entry_with_a_status_other_than_booked_keeps_it(tmp_path: Path) -> None:
    path = _retyped(
        tmp_path,
        "undated_statement.xml",
        ("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts>"),
        ("<CdtDbtInd>CRDT</CdtDbtInd>", "<CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"),
    )
    statuses = [line.status for line in camt.parse(path).lines]
    assert statuses == [LineStatus.SUCCEEDED, LineStatus.PENDING]


def test_a_booked_balance_in_another_currency_is_a_warning_and_leaves_the_balance_unchecked(
    tmp_path: Path,
) -> None:
    """Currencies are never mixed: a closing stated in EUR on a CHF account is not
    compared with the CHF entries (it was taken as CHF before). No line is read from it,
    so the file imports, as a peer's does, with a warning naming the balance."""
    path = _retyped(
        tmp_path,
        "undated_statement.xml",
        ('<Amt Ccy="CHF">1240.50</Amt>', '<Amt Ccy="EUR">1240.50</Amt>'),
    )
    parsed = camt.parse(path)
    assert len(list(parsed.lines)) == 2
    first = parsed.balances[0]
    assert (first.currency, first.opening, first.closing, first.difference) == (
        "CHF",
        None,
        None,
        None,
    )
    assert any(
        "line 4, field Stmt[1]/Bal[CLBD]/Amt/@Ccy: a CLBD balance in EUR" in warning
        for warning in parsed.warnings.kept
    )


def test_a_balance_nothing_is_read_from_may_be_in_any_currency(tmp_path: Path) -> None:
    """Available balances (OPAV, CLAV) are not compared with anything: left as they are."""
    path = _retyped(
        tmp_path,
        "undated_statement.xml",
        ('<Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CHF">1000.00',
         '<Cd>OPAV</Cd></CdOrPrtry></Tp><Amt Ccy="JPY">1000'),
    )  # fmt: skip
    assert len(list(camt.parse(path).lines)) == 2


def test_an_undated_entry_takes_the_day_a_statement_period_and_balances_agree_on(
    tmp_path: Path,
) -> None:
    period = "<FrToDt><FrDtTm>2024-06-28T00:00:00+02:00</FrDtTm><ToDtTm>2024-06-28T23:59:59+02:00</ToDtTm></FrToDt>"  # noqa: E501
    agreeing = _retyped(
        tmp_path, "undated_statement.xml", ("<Id>RW-UND-1</Id>", f"<Id>RW-UND-1</Id>{period}")
    )
    assert {line.business_date for line in camt.parse(agreeing).lines} == {date(2024, 6, 28)}

    other_day = _retyped(
        tmp_path,
        "undated_statement.xml",
        ("<Id>RW-UND-1</Id>", f"<Id>RW-UND-1</Id>{period.replace('06-28T23', '06-29T23')}"),
    )
    with pytest.raises(MalformedStatement, match=r"Ntry\[1\]/BookgDt"):
        list(camt.parse(other_day).lines)


def test_a_batch_whose_transactions_are_stated_in_another_currency_stays_one_line(
    tmp_path: Path,
) -> None:
    """Splitting would put EUR amounts on a CHF account: the entry's own CHF amount is
    what moved, so it stays one line, and a warning says why it was not split."""
    debit = "</Amt><CdtDbtInd>DBIT"
    in_euros = [
        (f'<Amt Ccy="CHF">{amount}{debit}', f'<Amt Ccy="EUR">{amount}{debit}')
        for amount in ("1000.00", "300.00", "200.00")
    ]
    path = _retyped(tmp_path, "batch_entry.xml", *in_euros)
    statement = camt.parse(path)
    lines = list(statement.lines)
    batch = [line for line in lines if line.amount == 150000]
    assert [(line.currency, line.direction.value) for line in batch] == [("CHF", "debit")]
    assert all(line.currency == "CHF" for line in lines)
    assert any(
        "TxDtls/Amt/@Ccy: its transactions are stated in EUR, not split" in warning
        for warning in statement.warnings.kept
    )


def test_an_intraday_account_report_imports_its_booked_and_pending_entries() -> None:
    """camt.052 (BkToCstmrAcctRpt/Rpt): a bank's intraday report, read like a statement."""
    report = camt.parse(REAL_WORLD / "intraday_report.xml")
    lines = list(report.lines)

    assert report.info.format == "camt052"
    assert [
        (line.amount, line.direction.value, line.status.value, str(line.business_date))
        for line in lines
    ] == [(4000, "credit", "succeeded", "2024-06-28"), (1500, "debit", "pending", "2024-06-28")]
    assert [line.source_ref for line in lines] == ["RPT-1", "RPT-2"]
    assert report.warnings.count == 0
    # An interim balance closes nothing: no booked balance, so nothing to hold it to.
    assert [(b.opening, b.closing, b.difference) for b in report.balances] == [(None, None, None)]


def test_a_report_entry_without_status_is_refused_like_a_notifications(tmp_path: Path) -> None:
    """An intraday report may carry pending money, so a missing status is not guessed."""
    path = _retyped(tmp_path, "intraday_report.xml", ("<Sts>PDNG</Sts>", ""))
    with pytest.raises(MalformedStatement, match=r"Ntry\[2\]/Sts"):
        list(camt.parse(path).lines)


def test_an_intraday_report_imports_under_its_own_format_name(recon: Recon) -> None:
    found, created = recon.import_file(
        REAL_WORLD / "intraday_report.xml", format="camt052", source="bank"
    )
    assert created and (found["format"], found["line_count"]) == ("camt052", 2)
