"""SQL of the push relay: lease due vouchers, record each push's outcome under the lease.

A claim leases up to `limit` pending vouchers whose `next_push_at` has come and whose lease
(if any) ran out, with one `lease_id`. An outcome is written only while that lease holds
(`lease_id` unchanged, still pending): a relay that stalled past its lease and lost the
voucher to another relay changes nothing. The attempt is counted when its outcome is
written, so vouchers released unpushed (the rest of a batch after the receiver failed)
keep their count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from paycore.finance.store import PUSH_PENDING, PUSH_PUSHED, PUSH_REJECTED, voucher_lines, vouchers


class PushStatus(StrEnum):
    PENDING = PUSH_PENDING
    PUSHED = PUSH_PUSHED
    REJECTED = PUSH_REJECTED  # refused for good (409 conflict, invalid): a person must look


@dataclass(frozen=True, slots=True)
class Claimed:
    voucher: Any  # a finance_vouchers row as claimed
    lines: tuple[Any, ...]  # its finance_voucher_lines rows by line_no


def _claimable(now: datetime) -> Any:
    v = vouchers.c
    return and_(
        v.push_status == PushStatus.PENDING.value,
        v.next_push_at <= now,
        or_(v.leased_until.is_(None), v.leased_until <= now),
    )


def claim_due(
    conn: Connection, *, now: datetime, lease_id: str, leased_until: datetime, limit: int
) -> list[Claimed]:
    """Lease up to `limit` due vouchers, earliest due first; returns them with their lines.

    The ids are chosen first, then leased by id: PostgreSQL may run a LIMIT subquery inside
    `UPDATE ... WHERE id IN (...)` again for each row and lease far more than `limit`.
    PostgreSQL: the SELECT locks with SKIP LOCKED, so concurrent relays take disjoint
    vouchers without waiting; the UPDATE re-checks a row another relay leased meanwhile.
    SQLite renders no FOR UPDATE: the caller's BEGIN IMMEDIATE makes claims one at a time.
    """
    v = vouchers.c
    due = (
        select(v.id)
        .where(_claimable(now))
        .order_by(v.next_push_at, v.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    rows = conn.execute(
        update(vouchers)
        .where(v.id.in_(ids), _claimable(now))
        .values(lease_id=lease_id, leased_until=leased_until)
        .returning(*vouchers.c)
    ).all()
    if not rows:
        return []
    lines: dict[str, list[Any]] = {row.id: [] for row in rows}
    line_query = (
        select(voucher_lines)
        .where(voucher_lines.c.voucher_id.in_(list(lines)))
        .order_by(voucher_lines.c.voucher_id, voucher_lines.c.line_no)
    )
    for line in conn.execute(line_query):
        lines[line.voucher_id].append(line)
    claimed = [Claimed(row, tuple(lines[row.id])) for row in rows]
    claimed.sort(key=lambda c: (c.voucher.next_push_at, c.voucher.id))
    return claimed


def _held(voucher_id: str, lease_id: str) -> Any:
    v = vouchers.c
    return and_(
        v.id == voucher_id, v.lease_id == lease_id, v.push_status == PushStatus.PENDING.value
    )


def mark_pushed(
    conn: Connection, *, voucher_id: str, lease_id: str, pushed_at: datetime, receiver_ref: str
) -> bool:
    """The receiver booked it (now or before). False if the lease no longer holds."""
    result = conn.execute(
        update(vouchers)
        .where(_held(voucher_id, lease_id))
        .values(
            push_status=PushStatus.PUSHED.value,
            push_attempts=vouchers.c.push_attempts + 1,
            pushed_at=pushed_at,
            receiver_ref=receiver_ref,
            lease_id=None,
            leased_until=None,
            last_error="",
        )
    )
    return result.rowcount == 1


def mark_failed(
    conn: Connection,
    *,
    voucher_id: str,
    lease_id: str,
    error: str,
    next_push_at: datetime | None,
) -> bool:
    """A failed push: due again at `next_push_at`, or refused for good when it is None."""
    status = PushStatus.PENDING if next_push_at is not None else PushStatus.REJECTED
    values: dict[str, Any] = {
        "push_status": status.value,
        "push_attempts": vouchers.c.push_attempts + 1,
        "lease_id": None,
        "leased_until": None,
        "last_error": error,
    }
    if next_push_at is not None:
        values["next_push_at"] = next_push_at
    result = conn.execute(update(vouchers).where(_held(voucher_id, lease_id)).values(values))
    return result.rowcount == 1


def release(
    conn: Connection, *, voucher_ids: Sequence[str], lease_id: str, next_push_at: datetime
) -> int:
    """Give back vouchers claimed but not pushed, due again at `next_push_at`."""
    v = vouchers.c
    result = conn.execute(
        update(vouchers)
        .where(
            v.id.in_(list(voucher_ids)),
            v.lease_id == lease_id,
            v.push_status == PushStatus.PENDING.value,
        )
        .values(lease_id=None, leased_until=None, next_push_at=next_push_at)
    )
    return result.rowcount or 0


def requeue(conn: Connection, *, voucher_id: str, now: datetime) -> bool:
    """A rejected voucher pending again, due now (after a person resolved the refusal, e.g.
    reversed the other booking at the finance system). False if it was not rejected."""
    v = vouchers.c
    result = conn.execute(
        update(vouchers)
        .where(v.id == voucher_id, v.push_status == PushStatus.REJECTED.value)
        .values(push_status=PushStatus.PENDING.value, next_push_at=now, last_error="")
    )
    return result.rowcount == 1


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    overdue: int  # pending and due at or before `overdue_before`
    oldest_pending_date: Any  # the business date of the oldest pending voucher, or None
    rejected: int
    oldest_pending_at: datetime | None = None  # when the oldest pending one was derived


def backlog(conn: Connection, *, overdue_before: datetime) -> Backlog:
    """How far behind the push is (finance.backlog.FinanceBacklog adds the days' side)."""
    v = vouchers.c
    pending = v.push_status == PushStatus.PENDING.value
    row = conn.execute(
        select(
            func.count().filter(pending),
            func.count().filter(and_(pending, v.next_push_at <= overdue_before)),
            func.min(v.business_date).filter(pending),
            func.count().filter(v.push_status == PushStatus.REJECTED.value),
            func.min(v.created_at).filter(pending),
        )
    ).one()
    return Backlog(int(row[0]), int(row[1]), row[2], int(row[3]), row[4])


def push_state(conn: Connection, voucher_ids: Sequence[str] | None = None) -> list[Any]:
    """id, push_status, push_attempts, receiver_ref, last_error of vouchers (all if None)."""
    v = vouchers.c
    query = select(v.id, v.push_status, v.push_attempts, v.receiver_ref, v.last_error, v.pushed_at)
    if voucher_ids is not None:
        query = query.where(v.id.in_(list(voucher_ids)))
    return list(conn.execute(query.order_by(v.id)))
