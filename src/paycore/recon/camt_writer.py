"""Write a valid camt.053.001.02 statement from `StatementLine`s, in bounded memory.

Used by the benchmark and the tests to make files of millions of entries. The statement's
header (balances, TxsSummry) comes before its entries in the XML but depends on all of
them, so the entries are first serialized to a fragment file beside the target while the
totals are counted, then the header is written and the fragment copied after it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from lxml import etree

from paycore.money import decimal_text
from paycore.recon.model import BUSINESS_TZ, Direction, LineKind, LineStatus, StatementLine

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
_NS = f"{{{NAMESPACE}}}"

_FAMILY_OF_KIND = {
    # ISO external bank transaction codes: domain / family / sub-family.
    LineKind.PAYIN: ("PMNT", "RCDT", "ESCT"),
    LineKind.PAYOUT: ("PMNT", "ICDT", "ESCT"),
    LineKind.REFUND: ("PMNT", "RCDT", "RRTN"),
    LineKind.FEE: ("ACMT", "MDOP", "CHRG"),
    LineKind.OTHER: ("ACMT", "MCOP", "OTHR"),
}
_STATUS_CODE = {
    LineStatus.SUCCEEDED: "BOOK",
    LineStatus.PENDING: "PDNG",
    LineStatus.FAILED: "INFO",
}


@dataclass(frozen=True, slots=True)
class StatementHeader:
    statement_id: str
    account_iban: str
    currency: str
    created_at: datetime
    period_start: date
    period_end: date
    opening_balance: int = 0  # minor units, signed


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _NS + tag)
    if text is not None:
        child.text = text
    return child


def _amount(parent: etree._Element, tag: str, amount: int, currency: str) -> None:
    _sub(parent, tag, decimal_text(abs(amount), currency)).set("Ccy", currency)


def _entry(line: StatementLine) -> etree._Element:
    ntry = etree.Element(_NS + "Ntry", nsmap={None: NAMESPACE})
    _amount(ntry, "Amt", line.amount, line.currency)
    _sub(ntry, "CdtDbtInd", "CRDT" if line.direction is Direction.CREDIT else "DBIT")
    _sub(ntry, "Sts", _STATUS_CODE[line.status])
    # In the business timezone, as a bank in it writes them: the date part is the day.
    _sub(_sub(ntry, "BookgDt"), "DtTm", line.booked_at.astimezone(BUSINESS_TZ).isoformat())
    if line.value_date is not None:
        _sub(_sub(ntry, "ValDt"), "Dt", line.value_date.isoformat())
    _sub(ntry, "AcctSvcrRef", line.source_ref)
    domain, family, sub_family = _FAMILY_OF_KIND[line.kind]
    domn = _sub(_sub(ntry, "BkTxCd"), "Domn")
    _sub(domn, "Cd", domain)
    fmly = _sub(domn, "Fmly")
    _sub(fmly, "Cd", family)
    _sub(fmly, "SubFmlyCd", sub_family)
    if line.fee:
        _amount(_sub(ntry, "Chrgs"), "Amt", line.fee, line.currency)
    if line.reference or line.channel_txn_id or line.account or line.counterparty:
        details = _sub(_sub(ntry, "NtryDtls"), "TxDtls")
        if line.reference or line.channel_txn_id:
            refs = _sub(details, "Refs")
            _sub(refs, "EndToEndId", line.reference or "NOTPROVIDED")
            if line.channel_txn_id:
                _sub(refs, "TxId", line.channel_txn_id)
        if line.account or line.counterparty:
            _related_parties(details, line)
    return ntry


def _related_parties(details: etree._Element, line: StatementLine) -> None:
    """RltdPties, in XSD order Dbtr, DbtrAcct, Cdtr, CdtrAcct: on a credit the other side
    is the debtor and our account the creditor's; on a debit the reverse."""
    parties = _sub(details, "RltdPties")
    other = line.counterparty
    theirs = (other.name, other.account_number) if other else (None, None)
    ours = (None, line.account)
    debtor, creditor = (theirs, ours) if line.direction is Direction.CREDIT else (ours, theirs)
    for role, (name, account) in (("Dbtr", debtor), ("Cdtr", creditor)):
        if name:
            _sub(_sub(parties, role), "Nm", name)
        if account:
            _sub(_sub(_sub(_sub(parties, role + "Acct"), "Id"), "Othr"), "Id", account)


@dataclass(slots=True)
class _Totals:
    count: int = 0
    credits: int = 0
    debits: int = 0
    credit_count: int = 0
    booked: int = 0  # booked credits - booked debits: what moves the balance


def _write_entries(fragment: Path, lines: Iterable[StatementLine], currency: str) -> _Totals:
    totals = _Totals()
    with fragment.open("wb") as out:
        for line in lines:
            if line.currency != currency:
                raise ValueError(f"line {line.line_no} is in {line.currency}, not {currency}")
            out.write(etree.tostring(_entry(line)))
            out.write(b"\n")
            totals.count += 1
            if line.status is LineStatus.SUCCEEDED:
                credit = line.direction is Direction.CREDIT
                totals.booked += line.amount if credit else -line.amount
            if line.direction is Direction.CREDIT:
                totals.credits += line.amount
                totals.credit_count += 1
            else:
                totals.debits += line.amount
    return totals


def _balance(parent: etree._Element, code: str, amount: int, header: StatementHeader) -> None:
    bal = _sub(parent, "Bal")
    _sub(_sub(_sub(bal, "Tp"), "CdOrPrtry"), "Cd", code)
    _amount(bal, "Amt", amount, header.currency)
    _sub(bal, "CdtDbtInd", "CRDT" if amount >= 0 else "DBIT")
    _sub(_sub(bal, "Dt"), "Dt", header.period_end.isoformat())


def _header_elements(header: StatementHeader, totals: _Totals) -> list[etree._Element]:
    stmt = etree.Element(_NS + "Stmt", nsmap={None: NAMESPACE})
    _sub(stmt, "Id", header.statement_id)
    _sub(stmt, "CreDtTm", header.created_at.astimezone(UTC).isoformat())
    period = _sub(stmt, "FrToDt")
    _sub(period, "FrDtTm", f"{header.period_start.isoformat()}T00:00:00+00:00")
    _sub(period, "ToDtTm", f"{header.period_end.isoformat()}T23:59:59+00:00")
    acct = _sub(stmt, "Acct")
    _sub(_sub(acct, "Id"), "IBAN", header.account_iban)
    _sub(acct, "Ccy", header.currency)
    closing = header.opening_balance + totals.booked  # pending entries move no balance
    _balance(stmt, "OPBD", header.opening_balance, header)
    _balance(stmt, "CLBD", closing, header)
    summary = _sub(stmt, "TxsSummry")
    all_entries = _sub(summary, "TtlNtries")
    _sub(all_entries, "NbOfNtries", str(totals.count))
    _sub(all_entries, "Sum", decimal_text(totals.credits + totals.debits, header.currency))
    for tag, count, total in (
        ("TtlCdtNtries", totals.credit_count, totals.credits),
        ("TtlDbtNtries", totals.count - totals.credit_count, totals.debits),
    ):
        part = _sub(summary, tag)
        _sub(part, "NbOfNtries", str(count))
        _sub(part, "Sum", decimal_text(total, header.currency))
    return list(stmt)


def write_camt053(path: Path, lines: Iterable[StatementLine], header: StatementHeader) -> None:
    """Write `lines` (one currency) as one camt.053.001.02 statement at `path`."""
    fd, fragment_name = tempfile.mkstemp(prefix=".camt-", suffix=".part", dir=path.parent)
    os.close(fd)
    fragment = Path(fragment_name)
    try:
        totals = _write_entries(fragment, lines, header.currency)
        group_header = etree.Element(_NS + "GrpHdr", nsmap={None: NAMESPACE})
        _sub(group_header, "MsgId", header.statement_id)
        _sub(group_header, "CreDtTm", header.created_at.astimezone(UTC).isoformat())
        with path.open("wb") as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
            out.write(f'<Document xmlns="{NAMESPACE}"><BkToCstmrStmt>\n'.encode())
            out.write(etree.tostring(group_header))
            out.write(b"\n<Stmt>\n")
            for element in _header_elements(header, totals):
                out.write(etree.tostring(element))
                out.write(b"\n")
            with fragment.open("rb") as entries:
                shutil.copyfileobj(entries, out)
            out.write(b"</Stmt></BkToCstmrStmt></Document>\n")
    finally:
        fragment.unlink(missing_ok=True)
