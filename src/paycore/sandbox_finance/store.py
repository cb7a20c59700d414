"""The sandbox finance system's own SQLite file: the vouchers it booked, and every receipt
(each POST it answered: booked, duplicate or conflict), so a test can see that a voucher
pushed five times was booked once.

Its own MetaData, never paycore's schema: the finance system is another institution. Used
from the receiver's event loop only; each write is one short transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from paycore.platform.db import UTCDateTime

metadata = MetaData()

booked = Table(
    "fin_booked_vouchers",
    metadata,
    Column("voucher_id", String(64), primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("voucher_type", String(32), nullable=False),
    Column("debit_total_minor", BigInteger, nullable=False),
    Column("body_hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("receiver_ref", String(32), nullable=False, unique=True),
    Column("booked_at", UTCDateTime, nullable=False),
    Index("fin_booked_by_date", "business_date"),
)

receipts = Table(
    "fin_receipts",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("voucher_id", String(64), nullable=False),
    Column("result", String(16), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("fin_receipts_by_voucher", "voucher_id"),
)


def open_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy decides where transactions begin
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # every transaction here may write

    metadata.create_all(engine)
    return engine


def find(engine: Engine, voucher_id: str) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(select(booked).where(booked.c.voucher_id == voucher_id)).first()


def book(engine: Engine, row: dict[str, Any]) -> tuple[bool, Any]:
    """Insert the voucher unless its id is booked; returns (inserted, the booked row).
    The primary key decides, so two requests racing for one id book it once."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(booked).values(row))
    except IntegrityError:
        existing = find(engine, row["voucher_id"])
        if existing is None:  # the conflict was on receiver_ref: cannot happen with new refs
            raise
        return False, existing
    return True, find(engine, row["voucher_id"])


def record_receipt(engine: Engine, *, voucher_id: str, result: str, at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(insert(receipts).values(voucher_id=voucher_id, result=result, received_at=at))


def booked_on(engine: Engine, business_date: date, *, limit: int) -> list[Any]:
    query = (
        select(booked.c.voucher_id, booked.c.body_hash, booked.c.receiver_ref, booked.c.booked_at)
        .where(booked.c.business_date == business_date)
        .order_by(booked.c.voucher_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return list(conn.execute(query))


def receipt_counts(engine: Engine) -> dict[str, dict[str, int]]:
    """voucher id -> result -> how many receipts."""
    query = select(receipts.c.voucher_id, receipts.c.result, func.count()).group_by(
        receipts.c.voucher_id, receipts.c.result
    )
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for voucher_id, result, count in conn.execute(query):
            counts.setdefault(voucher_id, {})[result] = count
    return counts
