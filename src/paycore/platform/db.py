"""Database engines for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Dialect,
    Engine,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import InvalidatePoolError

from paycore.platform.config import ensure_sqlite_dir

WRITER = {"paycore_writer": True}
"""Execution options for a connection that writes the ledger: on SQLite its
transactions start with BEGIN IMMEDIATE, so two writers queue on the lock
instead of failing at commit with 'database is locked'."""

PING_AFTER_IDLE_S = 1.0
"""A pooled PostgreSQL connection idle longer than this is pinged before it is handed out
(a database restart, or a proxy dropping idle connections, is found there, and the whole
pool is replaced). One used more recently is not: pinging every checkout was a round trip
on each of a pay-in's ~4 checkouts. A restart within that second is found by the next
statement instead, which fails like the statements in flight during the restart and
also replaces the whole pool (SQLAlchemy's disconnect handling)."""


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    if url.startswith("sqlite"):
        ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    # Statements pass id lists as one array parameter. A generic plan made while a table
    # was small scans it whole, testing every row against the array, until the next
    # ANALYZE; planning each execution with its real parameters costs far less than that.
    # random_page_cost 1.1 (SSD or memory, not the spinning-disk default of 4): otherwise
    # the planner scans 180,000 transfers rather than probe the 1,000 ids of a batch.
    connect_args = {"options": "-c plan_cache_mode=force_custom_plan -c random_page_cost=1.1"}
    engine = create_engine(url, pool_size=pool_size, max_overflow=10, connect_args=connect_args)
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """`pool_pre_ping`, for connections idle longer than PING_AFTER_IDLE_S only."""
    dialect = engine.dialect

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["paycore_idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("paycore_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # a new connection, or one just used
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            # The pool reconnects this checkout and replaces every connection made before.
            raise InvalidatePoolError(f"pooled connection lost: {error}") from error


def one_read(engine: Engine) -> Connection:
    """A connection for reads that need no snapshot in common (each statement sees its own,
    as in a READ COMMITTED transaction). On PostgreSQL it runs in autocommit, so neither
    BEGIN nor the ROLLBACK that ends an unused transaction goes to the server: a read by
    primary key is one round trip instead of three (measured, 10-30% less CPU)."""
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: every commit is fsynced, so an acknowledged transfer survives a power cut,
        # not only a killed process. Group commit pays one fsync per group, which measured
        # within noise of NORMAL.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoint every 64 MB of WAL instead of every 4 MB: a big batch dirties thousands
        # of index pages, and copying them back after each commit cost a third of the
        # throughput of a large ledger. The file is cut back to 64 MB after a checkpoint.
        cursor.execute("PRAGMA wal_autocheckpoint=16384")
        cursor.execute("PRAGMA journal_size_limit=67108864")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("paycore_writer")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations"


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` to `revision` with Alembic."""
    from alembic import command
    from alembic.config import Config

    if url.startswith("sqlite"):
        ensure_sqlite_dir(url)
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: paycore stores instants in UTC")
        utc = value.astimezone(UTC)
        # SQLite has no zone type: it stores naive UTC, and results get the zone back below.
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")
