"""Month close: each merchant's month statement sealed with a hash chained to the month
before. A sealed statement is never edited; the next month's opening starts from it and
carries any later difference of the journal as an adjustment (`Bills.statement_on`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from paycore.bills import store, store_journal
from paycore.bills.model import (
    month_of,
    month_period,
    previous_month,
    seal_hash,
    statement_lines,
)
from paycore.errors import Rejected

if TYPE_CHECKING:
    from paycore.bills.service import Bills

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SealProblem:
    merchant_id: str
    month: str
    problem: str


def close_month(bills: Bills, month: str) -> list[str]:
    """Seal every merchant's statement of a finished month; returns the merchants sealed
    now (none on a second run). Its days are rolled up first."""
    period = month_period(month)
    last_day = period.days[-1]
    bills.close_days(until=last_day)
    with bills.engine.connect() as conn:
        closed = store.last_closed(conn)
        merchants = store_journal.merchant_ids(conn)
    if closed is None or closed[0] < last_day:
        raise Rejected("month_not_over", f"{month} has days not closed yet (Asia/Shanghai)")
    sealed = []
    for merchant_id in merchants:
        if _seal(bills, merchant_id, month):
            sealed.append(merchant_id)
    return sealed


def _seal(bills: Bills, merchant_id: str, month: str) -> bool:
    period = month_period(month)
    try:
        with bills.engine.begin() as conn:
            if store.sealed(conn, merchant_id, month) is not None:
                return False
            statement = bills.statement_on(conn, merchant_id, period, None, rollups=True)
            if not statement.accounts:
                return False
            previous = store.sealed(conn, merchant_id, previous_month(month))
            previous_hash = previous.hash if previous is not None else None
            lines = _plain(statement_lines(statement))
            store.insert_sealed(
                conn,
                merchant_id=merchant_id,
                month=month,
                lines=lines,
                hash_=seal_hash(lines, previous_hash),
                previous_hash=previous_hash,
                sealed_at=bills.clock.now(),
            )
    except IntegrityError:
        return False  # sealed by another worker at the same moment
    log.info("bill month sealed", extra={"merchant_id": merchant_id, "month": month})
    return True


def _plain(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    """Lines as the JSON column gives them back, so the hash is over what is stored."""
    return [dict(line) for line in lines]


def close_due_months(bills: Bills) -> list[str]:
    """Seal every month that is over and whose days are all closed, oldest first, from
    the last month sealed (or the first day ever closed) on."""
    with bills.engine.connect() as conn:
        closed = store.last_closed(conn)
        first_day = store.first_closed_day(conn)
        latest = store.latest_sealed_month(conn)
    if closed is None or first_day is None:
        return []
    month = latest or month_of(first_day)
    done: list[str] = []
    while month_period(month).days[-1] <= closed[0]:
        if close_month(bills, month):
            done.append(month)
        month = month_of(month_period(month).days[-1] + timedelta(days=1))
    return done


def verify_seals(bills: Bills, month: str | None = None) -> list[SealProblem]:
    """Recompute every sealed hash (of one month, or all) and its link to the month before."""
    problems = []
    with bills.read_engine.connect() as conn:
        for row in store.sealed_months(conn, month):
            problems.extend(_verify(conn, row))
    return problems


def _verify(conn: Any, row: Any) -> list[SealProblem]:
    found = []
    if seal_hash(row.lines, row.previous_hash) != row.hash:
        found.append(SealProblem(row.merchant_id, row.month, "hash does not match its lines"))
    previous = store.sealed(conn, row.merchant_id, previous_month(row.month))
    if (previous.hash if previous is not None else None) != row.previous_hash:
        found.append(SealProblem(row.merchant_id, row.month, "chain to previous month broken"))
    return found
