"""Tables and SQL of the rewards slice: budgets, batches and each row's outcome.

Balances are not here: a budget's money is its ledger account. Rows keep what a re-run
needs to pay nothing twice (status, attempt, the transfer id of the attempt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata
from paycore.rewards.model import Budget, PlannedRow, RowOutcome, RowStatus

budgets = Table(
    "rewards_budgets",
    metadata,
    Column("merchant_id", String(64), nullable=False),
    Column("budget_id", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("row_amount_max", BigInteger, nullable=False),
    Column("recipient_total_max", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),  # bumped to serialise batches on one budget
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "budget_id"),
)

batches = Table(
    "rewards_batches",
    metadata,
    Column("merchant_id", String(64), nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("budget_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "batch_id"),
)

rows = Table(
    "rewards_rows",
    metadata,
    Column("merchant_id", String(64), nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("budget_id", String(64), nullable=False),
    Column("row_number", Integer, nullable=True),
    Column("recipient", String(64), nullable=False),
    Column("amount", BigInteger, nullable=True),
    Column("amount_text", String(32), nullable=False),
    Column("status", String(8), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("retryable", Boolean, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("transfer_id", String(64), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # The merchant's note for the recipient (may name a person): a FieldCipher token,
    # context rewards-note:<merchant>:<batch>:<position>; NULL for an empty note.
    Column("note_enc", Text, nullable=True),
    PrimaryKeyConstraint("merchant_id", "batch_id", "position"),
    # What each recipient got or has reserved from a budget: the per-recipient limit.
    Index("ix_rewards_rows_recipient", "merchant_id", "budget_id", "recipient"),
)


# -- budgets ---------------------------------------------------------------------------------


def insert_budget(conn: Connection, budget: Budget) -> None:
    conn.execute(
        insert(budgets).values(
            merchant_id=budget.merchant_id,
            budget_id=budget.id,
            name=budget.name,
            currency=budget.currency,
            account_id=budget.account_id,
            row_amount_max=budget.row_amount_max,
            recipient_total_max=budget.recipient_total_max,
            version=0,
            created_at=budget.created_at,
        )
    )


def _budget(row: Any) -> Budget:
    return Budget(
        merchant_id=row.merchant_id,
        id=row.budget_id,
        name=row.name,
        currency=row.currency,
        account_id=row.account_id,
        row_amount_max=row.row_amount_max,
        recipient_total_max=row.recipient_total_max,
        created_at=row.created_at,
    )


def get_budget(conn: Connection, merchant_id: str, budget_id: str) -> Budget | None:
    query = select(budgets).where(
        budgets.c.merchant_id == merchant_id, budgets.c.budget_id == budget_id
    )
    row = conn.execute(query).first()
    return _budget(row) if row else None


def list_budgets(conn: Connection, merchant_id: str, limit: int) -> list[Budget]:
    query = (
        select(budgets)
        .where(budgets.c.merchant_id == merchant_id)
        .order_by(budgets.c.budget_id)
        .limit(limit)
    )
    return [_budget(row) for row in conn.execute(query)]


def lock_budget(conn: Connection, merchant_id: str, budget_id: str) -> None:
    """Row-lock the budget (PostgreSQL; SQLite writers already queue on BEGIN IMMEDIATE), so
    two batches on one budget check the per-recipient limit one after the other."""
    conn.execute(
        update(budgets)
        .where(budgets.c.merchant_id == merchant_id, budgets.c.budget_id == budget_id)
        .values(version=budgets.c.version + 1)
    )


def recipient_totals(conn: Connection, merchant_id: str, budget_id: str) -> dict[str, int]:
    """Per recipient: paid, about to be paid, or failed but to be retried, over all batches."""
    counted = or_(
        rows.c.status.in_([RowStatus.PAID, RowStatus.PENDING]),
        and_(rows.c.status == RowStatus.FAILED, rows.c.retryable.is_(True)),
    )
    query = (
        select(rows.c.recipient, func.sum(rows.c.amount))
        .where(rows.c.merchant_id == merchant_id, rows.c.budget_id == budget_id, counted)
        .group_by(rows.c.recipient)
    )
    return {recipient: int(total) for recipient, total in conn.execute(query)}


# -- batches -----------------------------------------------------------------------------------


def insert_batch(
    conn: Connection,
    *,
    merchant_id: str,
    batch_id: str,
    budget: Budget,
    file_sha256: str,
    planned: Sequence[PlannedRow],
    notes_enc: Mapping[int, str],
    now: datetime,
) -> None:
    """`notes_enc`: each non-empty note sealed, by position."""
    conn.execute(
        insert(batches).values(
            merchant_id=merchant_id,
            batch_id=batch_id,
            budget_id=budget.id,
            currency=budget.currency,
            file_sha256=file_sha256,
            row_count=len(planned),
            runs=0,
            created_at=now,
            updated_at=now,
        )
    )
    values = [
        {
            "merchant_id": merchant_id,
            "batch_id": batch_id,
            "position": p.position,
            "budget_id": budget.id,
            "row_number": p.row,
            "recipient": p.recipient,
            "amount": p.amount,
            "amount_text": p.amount_text,
            "note_enc": notes_enc.get(p.position),
            "status": RowStatus.PENDING if p.valid else RowStatus.INVALID,
            "reason": p.reason,
            "retryable": False,
            "attempt": 0,
            "transfer_id": None,
            "updated_at": now,
        }
        for p in planned
    ]
    for start in range(0, len(values), 1000):
        conn.execute(insert(rows), values[start : start + 1000])


def get_batch(conn: Connection, merchant_id: str, batch_id: str) -> Any:
    query = select(batches).where(
        batches.c.merchant_id == merchant_id, batches.c.batch_id == batch_id
    )
    return conn.execute(query).first()


def count_run(conn: Connection, merchant_id: str, batch_id: str, now: datetime) -> None:
    conn.execute(
        update(batches)
        .where(batches.c.merchant_id == merchant_id, batches.c.batch_id == batch_id)
        .values(runs=batches.c.runs + 1, updated_at=now)
    )


def batch_counts(conn: Connection, merchant_id: str, batch_id: str) -> list[Any]:
    """(status, retryable, rows, amount) groups of one batch."""
    query = (
        select(rows.c.status, rows.c.retryable, func.count(), func.sum(rows.c.amount))
        .where(rows.c.merchant_id == merchant_id, rows.c.batch_id == batch_id)
        .group_by(rows.c.status, rows.c.retryable)
    )
    return list(conn.execute(query))


# -- rows ---------------------------------------------------------------------------------------


def _outcome(row: Any) -> RowOutcome:
    return RowOutcome(
        position=row.position,
        row=row.row_number,
        recipient=row.recipient,
        amount=row.amount,
        amount_text=row.amount_text,
        note="",  # opened from note_enc by list_rows' callers (notes.py)
        status=row.status,
        reason=row.reason,
        retryable=row.retryable,
        attempt=row.attempt,
        transfer_id=row.transfer_id,
    )


def rows_to_pay(conn: Connection, merchant_id: str, batch_id: str) -> list[RowOutcome]:
    """Rows a run works on: never paid for sure, and not refused for good."""
    query = (
        select(rows)
        .where(
            rows.c.merchant_id == merchant_id,
            rows.c.batch_id == batch_id,
            or_(
                rows.c.status == RowStatus.PENDING,
                and_(rows.c.status == RowStatus.FAILED, rows.c.retryable.is_(True)),
            ),
        )
        .order_by(rows.c.position)
    )
    return [_outcome(row) for row in conn.execute(query)]


def list_rows(
    conn: Connection,
    merchant_id: str,
    batch_id: str,
    *,
    after_position: int,
    limit: int,
    status: str | None = None,
) -> list[tuple[RowOutcome, str | None]]:
    """Each row with its sealed note (None: empty)."""
    query = (
        select(rows)
        .where(
            rows.c.merchant_id == merchant_id,
            rows.c.batch_id == batch_id,
            rows.c.position > after_position,
        )
        .order_by(rows.c.position)
        .limit(limit)
    )
    if status is not None:
        query = query.where(rows.c.status == status)
    return [(_outcome(row), row.note_enc) for row in conn.execute(query)]


_SAVE_ROW = (
    update(rows)
    .where(
        rows.c.merchant_id == bindparam("b_merchant_id"),
        rows.c.batch_id == bindparam("b_batch_id"),
        rows.c.position == bindparam("b_position"),
    )
    .values(
        status=bindparam("status"),
        reason=bindparam("reason"),
        retryable=bindparam("retryable"),
        attempt=bindparam("attempt"),
        transfer_id=bindparam("transfer_id"),
        updated_at=bindparam("updated_at"),
    )
)


def save_rows(
    conn: Connection, merchant_id: str, batch_id: str, outcomes: Sequence[RowOutcome], now: datetime
) -> None:
    if not outcomes:
        return
    conn.execute(
        _SAVE_ROW,
        [
            {
                "b_merchant_id": merchant_id,
                "b_batch_id": batch_id,
                "b_position": o.position,
                "status": o.status,
                "reason": o.reason,
                "retryable": o.retryable,
                "attempt": o.attempt,
                "transfer_id": o.transfer_id,
                "updated_at": now,
            }
            for o in outcomes
        ],
    )
