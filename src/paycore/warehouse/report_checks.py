"""A report's self-check: its totals per business day against the journal's.

A report declares what it can check in its header (`-- check:`, parsed into
`reports.Check`); here the report's rows are summed per day and currency (and account
code, for `*`) and compared with the posted journal's totals from paycore's database
(store_checks.py). Every difference is named: the column, the day, both amounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from paycore.platform.db import make_engine
from paycore.warehouse.reports import Check, Month, Report
from paycore.warehouse.store_checks import JournalTotal, journal_totals


@dataclass(frozen=True, slots=True)
class Mismatch:
    column: str
    day: date
    currency: str
    account_code: int | None
    report_amount: int
    journal_amount: int


Key = tuple[date, str, int | None]


def check(report: Report, table: pa.Table, journal: Iterable[JournalTotal]) -> list[Mismatch]:
    """Every declared check, day by day: the report's sums against the journal's."""
    rows = table.to_pylist()
    totals = list(journal)
    found: list[Mismatch] = []
    for rule in report.checks:
        ours = _report_sums(rows, rule)
        theirs = _journal_sums(totals, rule)
        for key in sorted(ours.keys() | theirs.keys(), key=lambda k: (k[0], k[1], k[2] or 0)):
            mine, journal_amount = ours.get(key, 0), theirs.get(key, 0)
            if mine != journal_amount:
                found.append(Mismatch(rule.column, *key, mine, journal_amount))
    return found


def _report_sums(rows: list[dict[str, Any]], rule: Check) -> dict[Key, int]:
    sums: dict[Key, int] = {}
    for row in rows:
        code = row["account_code"] if rule.account_code is None else None
        key = (row["dt"], row["currency"], code)
        sums[key] = sums.get(key, 0) + (row[rule.column] or 0)
    return sums


def _journal_sums(totals: list[JournalTotal], rule: Check) -> dict[Key, int]:
    sums: dict[Key, int] = {}
    for t in totals:
        if t.side != rule.side:
            continue
        if rule.account_code is not None and t.account_code != rule.account_code:
            continue
        if rule.reasons is not None and t.transfer_code not in rule.reasons:
            continue
        key = (t.day, t.currency, t.account_code if rule.account_code is None else None)
        sums[key] = sums.get(key, 0) + t.amount
    return sums


def check_with_ledger(
    report: Report, table: pa.Table, month: Month, database_url: str
) -> list[Mismatch]:
    """The report's checks against the journal in paycore's database (read only)."""
    if not report.checks:
        return []
    database = make_engine(database_url, pool_size=1)
    try:
        with database.connect() as conn:
            totals = journal_totals(conn, start_at=month.start_at, end_at=month.end_at)
    finally:
        database.dispose()
    return check(report, table, totals)
