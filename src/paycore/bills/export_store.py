"""The table and SQL of bill export jobs: queued by a request, claimed by one worker under
a lease, finished (or failed) by the worker that holds the lease and no other."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)

from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

export_jobs = Table(
    "bills_export_jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    # The caller's Idempotency-Key: the same key again is the same job.
    Column("request_key", String(128), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("what", String(16), nullable=False),
    Column("format", String(8), nullable=False),
    Column("filters", JSONDocument, nullable=False),
    # queued | running | succeeded | failed | expired (the file was removed)
    Column("status", String(16), nullable=False),
    Column("rows_total", BigInteger, nullable=True),
    Column("rows_done", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_id", String(32), nullable=True),
    Column("leased_until", UTCDateTime, nullable=True),
    Column("file_name", String(128), nullable=True),
    Column("file_bytes", BigInteger, nullable=True),
    Column("error", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("merchant_id", "request_key", name="ux_bills_export_jobs_request"),
    # The worker's claim reads the oldest claimable job: queued, or running past its lease.
    Index("ix_bills_export_jobs_status", "status", "created_at"),
)


def insert_job(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(export_jobs), [row])


def get_job(conn: Connection, job_id: str) -> Any | None:
    return conn.execute(select(export_jobs).where(export_jobs.c.id == job_id)).first()


def job_by_request(conn: Connection, merchant_id: str, request_key: str) -> Any | None:
    j = export_jobs.c
    query = select(export_jobs).where(j.merchant_id == merchant_id, j.request_key == request_key)
    return conn.execute(query).first()


def active_jobs(conn: Connection, merchant_id: str) -> int:
    j = export_jobs.c
    query = select(func.count()).where(
        j.merchant_id == merchant_id, j.status.in_(("queued", "running"))
    )
    return int(conn.execute(query).scalar_one())


def claim(
    conn: Connection, *, now: datetime, lease_id: str, leased_until: datetime, attempts_max: int
) -> Any | None:
    """Lease the oldest claimable job to `lease_id`: one queued, or one running whose
    worker stopped renewing its lease (crashed). A compare-and-set: the UPDATE re-checks
    the job is still claimable, so of two workers that picked the same job only one
    changes the row (PostgreSQL: SKIP LOCKED lets the other pick the next job at once;
    SQLite: the caller's BEGIN IMMEDIATE makes claims one at a time)."""
    j = export_jobs.c
    claimable = or_(
        j.status == "queued",
        and_(j.status == "running", j.leased_until < now, j.attempts < attempts_max),
    )
    candidate = (
        select(j.id)
        .where(claimable)
        .order_by(j.created_at, j.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    found = conn.execute(candidate).scalar_one_or_none()
    if found is None:
        return None
    result = conn.execute(
        update(export_jobs)
        .where(j.id == found, claimable)
        .values(
            status="running",
            lease_id=lease_id,
            leased_until=leased_until,
            attempts=j.attempts + 1,
            rows_done=0,
            started_at=now,
        )
        .returning(*export_jobs.c)
    ).first()
    return result


def fail_exhausted(conn: Connection, *, now: datetime, attempts_max: int) -> int:
    """Jobs whose every attempt crashed: failed, so they stop being retried."""
    j = export_jobs.c
    result = conn.execute(
        update(export_jobs)
        .where(j.status == "running", j.leased_until < now, j.attempts >= attempts_max)
        .values(status="failed", error="the export crashed on every attempt", finished_at=now)
    )
    return result.rowcount or 0


def renew(
    conn: Connection, job_id: str, lease_id: str, *, leased_until: datetime, rows_done: int
) -> bool:
    """Record progress and extend the lease, if this worker still holds it."""
    j = export_jobs.c
    result = conn.execute(
        update(export_jobs)
        .where(j.id == job_id, j.lease_id == lease_id, j.status == "running")
        .values(leased_until=leased_until, rows_done=rows_done)
    )
    return (result.rowcount or 0) == 1


def set_total(conn: Connection, job_id: str, lease_id: str, rows_total: int) -> None:
    j = export_jobs.c
    conn.execute(
        update(export_jobs)
        .where(j.id == job_id, j.lease_id == lease_id)
        .values(rows_total=rows_total)
    )


def finish(conn: Connection, job_id: str, lease_id: str, **values: Any) -> bool:
    """End the job (succeeded or failed) if this worker still holds its lease."""
    j = export_jobs.c
    result = conn.execute(
        update(export_jobs)
        .where(j.id == job_id, j.lease_id == lease_id, j.status == "running")
        .values(lease_id=None, leased_until=None, **values)
    )
    return (result.rowcount or 0) == 1


def expired_files(conn: Connection, *, finished_before: datetime, limit: int) -> list[Any]:
    j = export_jobs.c
    query = (
        select(j.id, j.file_name)
        .where(j.status == "succeeded", j.finished_at < finished_before)
        .order_by(j.finished_at)
        .limit(limit)
    )
    return list(conn.execute(query))


def mark_expired(conn: Connection, job_id: str) -> None:
    j = export_jobs.c
    conn.execute(
        update(export_jobs)
        .where(j.id == job_id, j.status == "succeeded")
        .values(status="expired", file_name=None)
    )
