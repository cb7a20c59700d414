"""Tables and SQL of the collection slice: plans, their periods and each attempt.

Every state change is a compare-and-set (`UPDATE ... WHERE status = :expected`): the
caller learns from the row count whether it won, so two workers never run one attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
    insert,
    select,
    update,
)

from paycore.collection.model import (
    OPEN_ATTEMPTS,
    OPEN_PERIODS,
    Attempt,
    AttemptStatus,
    Method,
    Period,
    PeriodStatus,
    Plan,
    PlanStatus,
    Terms,
)
from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata

plans = Table(
    "collection_plans",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("reference", String(64), nullable=True),
    Column("tenant", String(32), nullable=False),
    Column("landlord", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("fee_bps", Integer, nullable=True),
    Column("fee_fixed", BigInteger, nullable=True),
    Column("fee_amount", BigInteger, nullable=False),
    Column("due_day", String(4), nullable=False),
    Column("start_month", Date, nullable=False),
    Column("periods", Integer, nullable=True),
    Column("method", String(8), nullable=False),
    Column("product", String(32), nullable=False),
    Column("card_enc", String(512), nullable=True),
    Column("card_masked", String(32), nullable=True),
    Column("max_attempts", Integer, nullable=False),
    Column("retry_interval_s", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("next_period_no", Integer, nullable=False),
    Column("next_due_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_collection_plans_merchant", "merchant_id", "id"),
    Index("ux_collection_plans_reference", "merchant_id", "reference", unique=True),
    Index("ix_collection_plans_due", "status", "next_due_at"),
)

periods = Table(
    "collection_periods",
    metadata,
    Column("plan_id", String(64), nullable=False),
    Column("period_no", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts_made", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("plan_id", "period_no"),
    Index("ix_collection_periods_retry", "status", "next_attempt_at"),
)

attempts = Table(
    "collection_attempts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("plan_id", String(64), nullable=False),
    Column("period_no", Integer, nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("method", String(8), nullable=False),
    Column("status", String(12), nullable=False),
    Column("payin_id", String(64), nullable=True),
    Column("failure_code", String(64), nullable=True),
    Column("settle_tries", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Index("ix_collection_attempts_plan", "plan_id", "period_no"),
    Index("ix_collection_attempts_open", "status", "lease_until"),
)


# -- plans ------------------------------------------------------------------------------


def _plan_row(plan: Plan) -> dict[str, Any]:
    t = plan.terms
    return {
        "id": plan.id,
        "merchant_id": plan.merchant_id,
        "reference": plan.reference,
        "tenant": t.tenant,
        "landlord": t.landlord,
        "amount": t.amount,
        "currency": t.currency,
        "fee_bps": t.fee_bps,
        "fee_fixed": t.fee_fixed,
        "fee_amount": plan.fee_amount,
        "due_day": t.due_day,
        "start_month": t.start_month,
        "periods": t.periods,
        "method": t.method.value,
        "product": t.product,
        "card_enc": plan.card_enc,
        "card_masked": plan.card_masked,
        "max_attempts": t.max_attempts,
        "retry_interval_s": t.retry_interval_s,
        "status": plan.status.value,
        "next_period_no": plan.next_period_no,
        "next_due_at": plan.next_due_at,
        "created_at": plan.created_at,
        "updated_at": plan.updated_at,
    }


def _plan(row: Any) -> Plan:
    terms = Terms(
        tenant=row.tenant,
        landlord=row.landlord,
        amount=row.amount,
        currency=row.currency,
        due_day=row.due_day,
        start_month=row.start_month,
        periods=row.periods,
        method=Method(row.method),
        fee_bps=row.fee_bps,
        fee_fixed=row.fee_fixed,
        max_attempts=row.max_attempts,
        retry_interval_s=row.retry_interval_s,
        product=row.product,
    )
    return Plan(
        id=row.id,
        merchant_id=row.merchant_id,
        reference=row.reference,
        terms=terms,
        fee_amount=row.fee_amount,
        card_enc=row.card_enc,
        card_masked=row.card_masked,
        status=PlanStatus(row.status),
        next_period_no=row.next_period_no,
        next_due_at=row.next_due_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def insert_plan(conn: Connection, plan: Plan) -> None:
    conn.execute(insert(plans), _plan_row(plan))


def get_plan(conn: Connection, plan_id: str, *, lock: bool = False) -> Plan | None:
    """`lock` holds the plan's row to the end of the transaction (PostgreSQL; SQLite has
    one writer at a time), so a pause or cancel waits for, or is seen by, the caller."""
    query = select(plans).where(plans.c.id == plan_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return _plan(row) if row is not None else None


def find_by_reference(conn: Connection, merchant_id: str, reference: str) -> Plan | None:
    row = conn.execute(
        select(plans).where(plans.c.merchant_id == merchant_id, plans.c.reference == reference)
    ).first()
    return _plan(row) if row is not None else None


def list_plans(
    conn: Connection, *, merchant_id: str | None, after: str | None, limit: int
) -> list[Plan]:
    query = select(plans).order_by(plans.c.id).limit(limit)
    if merchant_id is not None:
        query = query.where(plans.c.merchant_id == merchant_id)
    if after is not None:
        query = query.where(plans.c.id > after)
    return [_plan(r) for r in conn.execute(query)]


def due_plans(
    conn: Connection, now: datetime, limit: int, plan_id: str | None = None
) -> list[Plan]:
    query = (
        select(plans)
        .where(plans.c.status == PlanStatus.ACTIVE.value, plans.c.next_due_at <= now)
        .order_by(plans.c.next_due_at)
        .limit(limit)
    )
    if plan_id is not None:
        query = query.where(plans.c.id == plan_id)
    return [_plan(r) for r in conn.execute(query)]


def move_plan(
    conn: Connection,
    plan: Plan,
    *,
    status: PlanStatus,
    next_period_no: int,
    next_due_at: datetime | None,
    now: datetime,
) -> bool:
    """Compare-and-set on (status, next_period_no): True if this caller won."""
    result = conn.execute(
        update(plans)
        .where(
            plans.c.id == plan.id,
            plans.c.status == plan.status.value,
            plans.c.next_period_no == plan.next_period_no,
        )
        .values(
            status=status.value,
            next_period_no=next_period_no,
            next_due_at=next_due_at,
            updated_at=now,
        )
    )
    return result.rowcount == 1


# -- periods ----------------------------------------------------------------------------


def _period(row: Any) -> Period:
    return Period(
        plan_id=row.plan_id,
        period_no=row.period_no,
        due_date=row.due_date,
        status=PeriodStatus(row.status),
        attempts_made=row.attempts_made,
        next_attempt_at=row.next_attempt_at,
    )


def insert_period(
    conn: Connection,
    *,
    plan_id: str,
    period_no: int,
    due_date: date,
    status: PeriodStatus,
    attempts_made: int,
    now: datetime,
) -> None:
    conn.execute(
        insert(periods),
        {
            "plan_id": plan_id,
            "period_no": period_no,
            "due_date": due_date,
            "status": status.value,
            "attempts_made": attempts_made,
            "next_attempt_at": None,
            "updated_at": now,
        },
    )


def periods_of(conn: Connection, plan_id: str) -> list[Period]:
    query = select(periods).where(periods.c.plan_id == plan_id).order_by(periods.c.period_no)
    return [_period(r) for r in conn.execute(query)]


def get_period(conn: Connection, plan_id: str, period_no: int) -> Period | None:
    row = conn.execute(
        select(periods).where(periods.c.plan_id == plan_id, periods.c.period_no == period_no)
    ).first()
    return _period(row) if row is not None else None


def open_period_count(conn: Connection, plan_id: str) -> int:
    query = select(func.count()).where(
        periods.c.plan_id == plan_id, periods.c.status.in_([s.value for s in OPEN_PERIODS])
    )
    return int(conn.execute(query).scalar_one())


def due_retries(
    conn: Connection, now: datetime, limit: int, plan_id: str | None = None
) -> list[Period]:
    """Retrying periods due now, of active plans only (a paused plan waits)."""
    query = (
        select(periods)
        .join(plans, plans.c.id == periods.c.plan_id)
        .where(
            periods.c.status == PeriodStatus.RETRYING.value,
            periods.c.next_attempt_at <= now,
            plans.c.status == PlanStatus.ACTIVE.value,
        )
        .order_by(periods.c.next_attempt_at)
        .limit(limit)
    )
    if plan_id is not None:
        query = query.where(periods.c.plan_id == plan_id)
    return [_period(r) for r in conn.execute(query)]


def move_period(
    conn: Connection,
    period: Period,
    *,
    status: PeriodStatus,
    attempts_made: int,
    next_attempt_at: datetime | None,
    now: datetime,
) -> bool:
    """Compare-and-set on (status, attempts_made)."""
    result = conn.execute(
        update(periods)
        .where(
            periods.c.plan_id == period.plan_id,
            periods.c.period_no == period.period_no,
            periods.c.status == period.status.value,
            periods.c.attempts_made == period.attempts_made,
        )
        .values(
            status=status.value,
            attempts_made=attempts_made,
            next_attempt_at=next_attempt_at,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def cancel_retrying(conn: Connection, plan_id: str, now: datetime) -> None:
    conn.execute(
        update(periods)
        .where(periods.c.plan_id == plan_id, periods.c.status == PeriodStatus.RETRYING.value)
        .values(status=PeriodStatus.CANCELLED.value, next_attempt_at=None, updated_at=now)
    )


# -- attempts ---------------------------------------------------------------------------


def _attempt(row: Any) -> Attempt:
    return Attempt(
        id=row.id,
        plan_id=row.plan_id,
        period_no=row.period_no,
        attempt_no=row.attempt_no,
        method=Method(row.method),
        status=AttemptStatus(row.status),
        payin_id=row.payin_id,
        failure_code=row.failure_code,
        settle_tries=row.settle_tries,
        started_at=row.started_at,
        lease_until=row.lease_until,
        finished_at=row.finished_at,
    )


def insert_attempt(conn: Connection, attempt: Attempt) -> None:
    conn.execute(
        insert(attempts),
        {
            "id": attempt.id,
            "plan_id": attempt.plan_id,
            "period_no": attempt.period_no,
            "attempt_no": attempt.attempt_no,
            "method": attempt.method.value,
            "status": attempt.status.value,
            "payin_id": attempt.payin_id,
            "failure_code": attempt.failure_code,
            "settle_tries": attempt.settle_tries,
            "started_at": attempt.started_at,
            "lease_until": attempt.lease_until,
            "finished_at": attempt.finished_at,
        },
    )


def get_attempt(conn: Connection, attempt_id: str) -> Attempt | None:
    row = conn.execute(select(attempts).where(attempts.c.id == attempt_id)).first()
    return _attempt(row) if row is not None else None


def attempts_of(conn: Connection, plan_id: str) -> list[Attempt]:
    query = (
        select(attempts)
        .where(attempts.c.plan_id == plan_id)
        .order_by(attempts.c.period_no, attempts.c.attempt_no)
    )
    return [_attempt(r) for r in conn.execute(query)]


def open_attempts(conn: Connection, now: datetime, limit: int) -> list[Attempt]:
    """Open attempts whose lease ran out: the worker crashed or hung, a pay-in's result
    never reached the listener, or a landlord transfer waits for a retry."""
    query = (
        select(attempts)
        .where(
            attempts.c.status.in_([s.value for s in OPEN_ATTEMPTS]),
            attempts.c.lease_until <= now,
        )
        .order_by(attempts.c.started_at)
        .limit(limit)
    )
    return [_attempt(r) for r in conn.execute(query)]


def move_attempt(
    conn: Connection,
    attempt_id: str,
    *,
    expected: Sequence[AttemptStatus],
    lease_until: datetime | None = None,
    expected_lease: datetime | None = None,
    expected_settle_tries: int | None = None,
    **values: Any,
) -> bool:
    """Compare-and-set on the attempt's status, and optionally on its lease (to take over
    a crashed worker's attempt) or its settle try (to burn a failed landlord transfer id)."""
    query = update(attempts).where(
        attempts.c.id == attempt_id, attempts.c.status.in_([s.value for s in expected])
    )
    if expected_lease is not None:
        query = query.where(attempts.c.lease_until == expected_lease)
    if expected_settle_tries is not None:
        query = query.where(attempts.c.settle_tries == expected_settle_tries)
    changes = {k: (v.value if isinstance(v, AttemptStatus) else v) for k, v in values.items()}
    if lease_until is not None:
        changes["lease_until"] = lease_until
    return conn.execute(query.values(**changes)).rowcount == 1
