"""SQL of the cut-off runs, their report lines, the daily checks and the sweep's mark
(the tables are declared with the others in `store.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Insert, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from paycore.custody.model import CutoffRun, DailyCheck, ReportLine
from paycore.custody.store import checks, cutoff_lines, cutoff_runs, sweeps

# -- cut-off runs and their report -----------------------------------------------------------


def start_run(conn: Connection, *, bank: str, business_date: date, now: datetime) -> None:
    found = conn.execute(
        select(cutoff_runs.c.bank).where(
            cutoff_runs.c.bank == bank, cutoff_runs.c.business_date == business_date
        )
    ).first()
    if found is None:
        _insert_once(
            conn,
            insert(cutoff_runs).values(
                bank=bank, business_date=business_date, status="running", started_at=now, refunds=0
            ),
        )


def _insert_once(conn: Connection, statement: Insert) -> None:
    """Insert, unless another worker process inserted the same key since we looked: each
    worker runs the same periodic job, and losing that race is no error."""
    try:
        with conn.begin_nested():
            conn.execute(statement)
    except IntegrityError:
        pass


def finish_run(
    conn: Connection, *, bank: str, business_date: date, now: datetime, path: str, status: str
) -> None:
    """Record what a run saw. `completed` is never taken back: a compare-and-set in the
    statement itself, so of two cut-offs at once the one that saw less cannot undo it."""
    refunds = len(report_lines(conn, bank=bank, business_date=business_date))
    conn.execute(
        update(cutoff_runs)
        .where(cutoff_runs.c.bank == bank, cutoff_runs.c.business_date == business_date)
        .values(
            status=case((cutoff_runs.c.status == "completed", "completed"), else_=status),
            finished_at=now,
            refunds=refunds,
            report_path=path,
        )
    )


def get_run(conn: Connection, *, bank: str, business_date: date) -> CutoffRun | None:
    row = conn.execute(
        select(cutoff_runs).where(
            cutoff_runs.c.bank == bank, cutoff_runs.c.business_date == business_date
        )
    ).first()
    if row is None:
        return None
    m = row._mapping
    return CutoffRun(
        bank=m["bank"],
        business_date=m["business_date"],
        status=m["status"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        refunds=m["refunds"],
        report_path=m["report_path"],
        lines=tuple(report_lines(conn, bank=bank, business_date=business_date)),
    )


def list_runs(conn: Connection, *, bank: str, limit: int) -> list[Mapping[str, Any]]:
    rows = conn.execute(
        select(cutoff_runs)
        .where(cutoff_runs.c.bank == bank)
        .order_by(cutoff_runs.c.business_date.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def run_status(conn: Connection, *, bank: str, business_date: date) -> str | None:
    return conn.execute(
        select(cutoff_runs.c.status).where(
            cutoff_runs.c.bank == bank, cutoff_runs.c.business_date == business_date
        )
    ).scalar_one_or_none()


def unfinished_days(conn: Connection, *, bank: str, limit: int) -> list[date]:
    """Days whose run has not completed, oldest first: later ticks keep driving them."""
    rows = conn.execute(
        select(cutoff_runs.c.business_date)
        .where(cutoff_runs.c.bank == bank, cutoff_runs.c.status != "completed")
        .order_by(cutoff_runs.c.business_date)
        .limit(limit)
    )
    return [r.business_date for r in rows]


def add_report_line(conn: Connection, line: ReportLine, *, bank: str, day: date) -> None:
    """The receipt's line, or, when it has one, its refund and outcome now (a retry)."""
    if conn.execute(
        select(cutoff_lines.c.receipt_id).where(cutoff_lines.c.receipt_id == line.receipt_id)
    ).first():
        conn.execute(
            update(cutoff_lines)
            .where(cutoff_lines.c.receipt_id == line.receipt_id)
            .values(refund_id=line.refund_id, outcome=line.outcome)
        )
        return
    _insert_once(
        conn,
        insert(cutoff_lines).values(
            receipt_id=line.receipt_id,
            bank=bank,
            business_date=day,
            owner=line.owner,
            amount=line.amount,
            currency=line.currency,
            received_at=line.received_at,
            reason=line.reason,
            refund_id=line.refund_id,
            outcome=line.outcome,
        ),
    )


def set_line_outcome(conn: Connection, receipt_id: str, outcome: str) -> bool:
    """True when the line said something else before."""
    changed = conn.execute(
        update(cutoff_lines)
        .where(cutoff_lines.c.receipt_id == receipt_id, cutoff_lines.c.outcome != outcome)
        .values(outcome=outcome)
    )
    return changed.rowcount == 1


def report_lines(conn: Connection, *, bank: str, business_date: date) -> list[ReportLine]:
    rows = conn.execute(
        select(cutoff_lines)
        .where(cutoff_lines.c.bank == bank, cutoff_lines.c.business_date == business_date)
        .order_by(cutoff_lines.c.received_at, cutoff_lines.c.receipt_id)
    )
    return [
        ReportLine(
            receipt_id=r.receipt_id,
            owner=r.owner,
            amount=r.amount,
            currency=r.currency,
            received_at=r.received_at,
            reason=r.reason,
            refund_id=r.refund_id,
            outcome=r.outcome,
        )
        for r in rows
    ]


# -- checks and sweeps -----------------------------------------------------------------------


def insert_check(conn: Connection, check: DailyCheck) -> None:
    conn.execute(
        insert(checks).values(
            id=check.id,
            bank=check.bank,
            business_date=check.business_date,
            subaccounts_total=check.subaccounts_total,
            pool_balance=check.pool_balance,
            bank_balance=check.bank_balance,
            checked_at=check.checked_at,
        )
    )


def list_checks(conn: Connection, *, bank: str, limit: int) -> list[DailyCheck]:
    rows = conn.execute(
        select(checks)
        .where(checks.c.bank == bank)
        .order_by(checks.c.checked_at.desc(), checks.c.id.desc())
        .limit(limit)
    )
    return [DailyCheck(**dict(r._mapping)) for r in rows]


def swept_until(conn: Connection, name: str) -> datetime | None:
    row = conn.execute(select(sweeps.c.swept_until).where(sweeps.c.name == name)).first()
    return row[0] if row else None


def set_swept_until(conn: Connection, name: str, at: datetime) -> None:
    if swept_until(conn, name) is None:
        _insert_once(conn, insert(sweeps).values(name=name, swept_until=at))
    else:
        conn.execute(update(sweeps).where(sweeps.c.name == name).values(swept_until=at))
