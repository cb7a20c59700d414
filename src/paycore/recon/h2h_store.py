"""Tables and SQL of the bank host-to-host link: payouts waiting for a file, the pain.001
files made, and the pain.002 reports applied.

No money is kept here (the hold is a pending ledger transfer) and no beneficiary data
either: the account number and name stay encrypted on the payment order and are read
only to write a file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    String,
    Table,
    insert,
    select,
    update,
)

from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

payouts = Table(
    "recon_h2h_payouts",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("channel", String(24), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("msg_id", String(35), nullable=True),  # the pain.001 file it went out in
    # waiting (no file yet) | in_file | succeeded | failed
    Column("status", String(12), nullable=False),
    Column("bank_status", String(4), nullable=True),  # the last TxSts: ACSC, RJCT, PDNG...
    Column("failure_code", String(35), nullable=True),
    Column("failure_class", String(8), nullable=True),
    Column("bank_reference", String(35), nullable=True),
    Column("report_msg_id", String(35), nullable=True),  # the pain.002 that decided it
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_recon_h2h_payouts_channel_msg", "channel", "msg_id"),
)

files = Table(
    "recon_h2h_files",
    metadata,
    Column("msg_id", String(35), primary_key=True),
    Column("channel", String(24), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("execution_date", Date, nullable=False),
    Column("tx_count", Integer, nullable=False),
    Column("sha256", String(64), nullable=True),  # set once the file is written
    Index("ix_recon_h2h_files_channel_created", "channel", "created_at"),
)

reports = Table(
    "recon_h2h_reports",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("msg_id", String(35), nullable=False),
    Column("original_msg_id", String(35), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
    Column("outcome", JSONDocument, nullable=False),
)

WAITING = "waiting"
IN_FILE = "in_file"
SUCCEEDED = "succeeded"
FAILED = "failed"
FINAL = frozenset({SUCCEEDED, FAILED})


def record_payout(
    conn: Connection,
    *,
    order_id: str,
    channel: str,
    amount: int,
    currency: str,
    now: datetime,
) -> Mapping[str, Any]:
    """The payout, recorded once: a second call with the same order answers the first row."""
    existing = get_payout(conn, order_id)
    if existing is not None:
        return existing
    row = {
        "order_id": order_id,
        "channel": channel,
        "amount": amount,
        "currency": currency,
        "msg_id": None,
        "status": WAITING,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(payouts).values(**row))
    return row


def get_payout(conn: Connection, order_id: str) -> Mapping[str, Any] | None:
    row = conn.execute(select(payouts).where(payouts.c.order_id == order_id)).mappings().first()
    return dict(row) if row else None


def waiting_ids(conn: Connection, *, channel: str, limit: int) -> list[str]:
    query = (
        select(payouts.c.order_id)
        .where(payouts.c.channel == channel, payouts.c.status == WAITING)
        .order_by(payouts.c.created_at, payouts.c.order_id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def claim_for_file(
    conn: Connection, *, order_ids: Sequence[str], msg_id: str, now: datetime
) -> int:
    """Put waiting payouts into file `msg_id`; a payout already in a file stays there."""
    result = conn.execute(
        update(payouts)
        .where(payouts.c.order_id.in_(order_ids), payouts.c.status == WAITING)
        .values(msg_id=msg_id, status=IN_FILE, updated_at=now)
    )
    return result.rowcount


def insert_file(
    conn: Connection, *, msg_id: str, channel: str, created_at: datetime, execution_date: date
) -> None:
    conn.execute(
        insert(files).values(
            msg_id=msg_id,
            channel=channel,
            created_at=created_at,
            execution_date=execution_date,
            tx_count=0,
        )
    )


def set_file_count(conn: Connection, *, msg_id: str, tx_count: int) -> None:
    conn.execute(update(files).where(files.c.msg_id == msg_id).values(tx_count=tx_count))


def set_file_hash(conn: Connection, *, msg_id: str, sha256: str) -> None:
    conn.execute(update(files).where(files.c.msg_id == msg_id).values(sha256=sha256))


def get_file(conn: Connection, msg_id: str) -> Mapping[str, Any] | None:
    row = conn.execute(select(files).where(files.c.msg_id == msg_id)).mappings().first()
    return dict(row) if row else None


def latest_file(conn: Connection, *, channel: str) -> Mapping[str, Any] | None:
    query = (
        select(files)
        .where(files.c.channel == channel)
        .order_by(files.c.created_at.desc(), files.c.msg_id.desc())
        .limit(1)
    )
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def list_files(conn: Connection, *, channel: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(files).order_by(files.c.created_at.desc(), files.c.msg_id.desc()).limit(limit)
    if channel is not None:
        query = query.where(files.c.channel == channel)
    return [dict(r) for r in conn.execute(query).mappings()]


def payouts_in_file(conn: Connection, msg_id: str) -> list[dict[str, Any]]:
    query = select(payouts).where(payouts.c.msg_id == msg_id).order_by(payouts.c.order_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def decide_payout(
    conn: Connection,
    *,
    order_id: str,
    status: str,
    bank_status: str,
    failure_code: str | None,
    failure_class: str | None,
    bank_reference: str | None,
    report_msg_id: str,
    now: datetime,
) -> bool:
    """Record the bank's word on a payout still open; False if it was already decided."""
    result = conn.execute(
        update(payouts)
        .where(payouts.c.order_id == order_id, payouts.c.status.not_in(FINAL))
        .values(
            status=status,
            bank_status=bank_status,
            failure_code=failure_code,
            failure_class=failure_class,
            bank_reference=bank_reference,
            report_msg_id=report_msg_id,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def note_pending(conn: Connection, *, order_id: str, bank_status: str, now: datetime) -> None:
    conn.execute(
        update(payouts)
        .where(payouts.c.order_id == order_id, payouts.c.status.not_in(FINAL))
        .values(bank_status=bank_status, updated_at=now)
    )


def get_report(conn: Connection, sha256: str) -> Mapping[str, Any] | None:
    row = conn.execute(select(reports).where(reports.c.sha256 == sha256)).mappings().first()
    return dict(row) if row else None


def insert_report(
    conn: Connection,
    *,
    sha256: str,
    msg_id: str,
    original_msg_id: str,
    applied_at: datetime,
    outcome: Mapping[str, Any],
) -> None:
    conn.execute(
        insert(reports).values(
            sha256=sha256,
            msg_id=msg_id,
            original_msg_id=original_msg_id,
            applied_at=applied_at,
            outcome=dict(outcome),
        )
    )
