"""The sandbox bank's own SQLite file: its transactions, and credit transfers received.

Its own MetaData, never paycore's schema: the bank is another institution. One writer
connection, used only from the bank's event loop. Writes are group-committed: the first
write of an event-loop turn asks `defer` to commit at the end of that turn, so a burst of
requests shares one commit (measured: a commit cost more than the insert it ends). WAL with
synchronous=NORMAL: no fsync per commit. A sandbox may thus lose its last moments in a
crash, never its consistency. Reads that can be large (statements, the admin listing) use
other pooled connections from worker threads and see committed data.

The two writes of every pay-in (its insert, its result) go straight to the sqlite3
connection with SQL compiled once: through SQLAlchemy's execute the insert cost ~110 µs
of CPU, straight ~20 µs (measured), and the bank shares its CPU with paycore in the
benchmarks. Timestamps are then written in the text form SQLAlchemy's SQLite DATETIME
writes and reads (`_sqlite_instant`), so every read still goes through SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
)

from paycore.platform.db import UTCDateTime
from paycore.sandbox_bank.credits import Credit
from paycore.sandbox_bank.model import Txn, TxnStatus, TxnType

metadata = MetaData()

txns = Table(
    "bank_txns",
    metadata,
    Column("bank_txn_no", String(32), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("type", String(8), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("notify_url", String(2048), nullable=False),
    Column("payin_reference", String(64), nullable=False),
    Column("account_hint", String(32), nullable=False),
    Column("failure_code", String(32), nullable=False),
    Column("failure_message", String(128), nullable=False),
    Column("fee_minor", BigInteger, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("returned_at", UTCDateTime),
    Column("planned_status", String(16)),
    Column("planned_failure_code", String(32), nullable=False),
    Column("completes_at", UTCDateTime),
    Column("silent", Boolean, nullable=False),
    Column("return_at", UTCDateTime),
    Index("bank_txns_by_reference", "merchant_id", "type", "reference", unique=True),
    Index("bank_txns_by_payin", "merchant_id", "payin_reference"),
    Index("bank_txns_by_finished_at", "finished_at"),
    Index("bank_txns_by_returned_at", "returned_at"),
    Index("bank_txns_pending", "status"),
)

credits = Table(
    "bank_credits",
    metadata,
    Column("bank_txn_no", String(32), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("account", String(34), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payer_account", String(34), nullable=False),
    Column("payer_name", String(70), nullable=False),
    Column("booked_at", UTCDateTime, nullable=False),
    Index("bank_credits_by_day", "merchant_id", "booked_at"),
)

_MUTABLE = (
    "status",
    "failure_code",
    "failure_message",
    "fee_minor",
    "finished_at",
    "returned_at",
    "planned_status",
    "planned_failure_code",
    "completes_at",
    "return_at",
)
_COLUMNS = tuple(column.name for column in txns.columns)
_INSERT_NEW_SQL = (
    f"INSERT OR IGNORE INTO {txns.name} ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_UPDATE_SQL = (
    f"UPDATE {txns.name} SET {', '.join(f'{name} = ?' for name in _MUTABLE)} WHERE bank_txn_no = ?"
)


def _sqlite_instant(value: datetime | None) -> str | None:
    """As SQLAlchemy's SQLite DATETIME stores an instant (naive UTC, microseconds)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime: the bank stores instants in UTC")
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


def _insert_values(txn: Txn) -> tuple[Any, ...]:
    row = _row(txn)
    return tuple(_sqlite_value(row[name]) for name in _COLUMNS)


def _update_values(txn: Txn) -> tuple[Any, ...]:
    row = _row(txn)
    return (*(_sqlite_value(row[name]) for name in _MUTABLE), txn.bank_txn_no)


def _sqlite_value(value: Any) -> Any:
    return _sqlite_instant(value) if isinstance(value, datetime) else value


def _row(txn: Txn) -> dict[str, Any]:
    return {
        "bank_txn_no": txn.bank_txn_no,
        "merchant_id": txn.merchant_id,
        "type": txn.type.value,
        "reference": txn.reference,
        "amount_minor": txn.amount_minor,
        "currency": txn.currency,
        "status": txn.status.value,
        "created_at": txn.created_at,
        "notify_url": txn.notify_url,
        "payin_reference": txn.payin_reference,
        "account_hint": txn.account_hint,
        "failure_code": txn.failure_code,
        "failure_message": txn.failure_message,
        "fee_minor": txn.fee_minor,
        "finished_at": txn.finished_at,
        "returned_at": txn.returned_at,
        "planned_status": txn.planned_status.value if txn.planned_status else None,
        "planned_failure_code": txn.planned_failure_code,
        "completes_at": txn.completes_at,
        "silent": txn.silent,
        "return_at": txn.return_at,
    }


def _credit_row(credit: Credit) -> dict[str, Any]:
    return {
        "bank_txn_no": credit.bank_txn_no,
        "merchant_id": credit.merchant_id,
        "account": credit.account,
        "amount_minor": credit.amount_minor,
        "currency": credit.currency,
        "payer_account": credit.payer_account,
        "payer_name": credit.payer_name,
        "booked_at": credit.booked_at,
    }


def _txn(row: Any) -> Txn:
    values = row._asdict()
    values["type"] = TxnType(values["type"])
    values["status"] = TxnStatus(values["status"])
    planned = values["planned_status"]
    values["planned_status"] = TxnStatus(planned) if planned else None
    return Txn(**values)


def make_bank_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


class BankStore:
    """Transactions by bank number and by (merchant, type, reference)."""

    def __init__(self, path: Path) -> None:
        self._engine = make_bank_engine(path)
        metadata.create_all(self._engine)
        self._writer: Connection = self._engine.connect()
        raw = self._writer.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        self._raw: sqlite3.Connection = raw
        """The writer's sqlite3 connection, for the hot writes (see the module docstring)."""
        self._defer: Callable[[Callable[[], None]], object] | None = None
        self._commit_pending = False

    def commit_later(self, defer: Callable[[Callable[[], None]], object]) -> None:
        """From now on commit through `defer` (e.g. the event loop's call_soon)."""
        self._defer = defer

    def commit(self) -> None:
        self._commit_pending = False
        self._writer.commit()
        self._raw.commit()  # writes made straight on sqlite3 are not SQLAlchemy's to commit

    def close(self) -> None:
        self.commit()
        self._writer.close()
        self._engine.dispose()

    def _written(self) -> None:
        if self._defer is None:
            self.commit()
        elif not self._commit_pending:
            self._commit_pending = True
            self._defer(self.commit)

    # -- the writer (the event loop's thread only) -------------------------------------------

    def insert_new(self, txn: Txn) -> bool:
        """Insert unless (merchant, type, reference) exists; True if inserted."""
        inserted = self._raw.execute(_INSERT_NEW_SQL, _insert_values(txn)).rowcount == 1
        self._written()
        return inserted

    def update(self, changed: Sequence[Txn]) -> None:
        if not changed:
            return
        self._raw.executemany(_UPDATE_SQL, [_update_values(txn) for txn in changed])
        self._written()

    def insert_credit(self, credit: Credit) -> None:
        self._writer.execute(insert(credits).values(**_credit_row(credit)))
        self._written()

    def get(self, merchant_id: str, kind: TxnType, reference: str) -> Txn | None:
        query = select(txns).where(
            txns.c.merchant_id == merchant_id,
            txns.c.type == kind.value,
            txns.c.reference == reference,
        )
        row = self._writer.execute(query).first()
        return _txn(row) if row else None

    def refunds_reserved_minor(self, merchant_id: str, payin_reference: str) -> int:
        """Refunds of one pay-in that succeeded or may still succeed."""
        query = select(func.coalesce(func.sum(txns.c.amount_minor), 0)).where(
            txns.c.merchant_id == merchant_id,
            txns.c.payin_reference == payin_reference,
            txns.c.type == TxnType.REFUND.value,
            txns.c.status.in_([TxnStatus.PROCESSING.value, TxnStatus.SUCCEEDED.value]),
        )
        total = self._writer.execute(query).scalar_one()
        return int(total)

    def pending(self) -> list[Txn]:
        """Transactions with something still to happen: a result or a return."""
        query = select(txns).where(
            or_(
                txns.c.status == TxnStatus.PROCESSING.value,
                and_(txns.c.status == TxnStatus.SUCCEEDED.value, txns.c.return_at.is_not(None)),
            )
        )
        rows = self._writer.execute(query).all()
        return [_txn(row) for row in rows]

    # -- readers (any thread) ----------------------------------------------------------------

    def listing(self, *, kind: TxnType | None = None, merchant_id: str | None = None) -> list[Txn]:
        query = select(txns).order_by(txns.c.created_at, txns.c.bank_txn_no)
        if kind is not None:
            query = query.where(txns.c.type == kind.value)
        if merchant_id is not None:
            query = query.where(txns.c.merchant_id == merchant_id)
        with self._engine.connect() as conn:
            return [_txn(row) for row in conn.execute(query)]

    def credits_between(self, merchant_id: str, start: datetime, end: datetime) -> list[Credit]:
        query = select(credits).where(
            credits.c.merchant_id == merchant_id,
            credits.c.booked_at >= start,
            credits.c.booked_at < end,
        )
        with self._engine.connect() as conn:
            return [Credit(**row._asdict()) for row in conn.execute(query)]

    def finished_between(self, merchant_id: str, start: datetime, end: datetime) -> list[Txn]:
        """A merchant's transactions finished or returned in [start, end)."""
        query = select(txns).where(
            txns.c.merchant_id == merchant_id,
            or_(
                and_(txns.c.finished_at >= start, txns.c.finished_at < end),
                and_(txns.c.returned_at >= start, txns.c.returned_at < end),
            ),
        )
        with self._engine.connect() as conn:
            return [_txn(row) for row in conn.execute(query)]
