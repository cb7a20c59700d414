"""The fingerprint SQL, the same statements on SQLite and PostgreSQL, and PostgreSQL's few
recovery statements.

Every row's hash is computed inside the database and only sums come back: a million
transfers are never loaded into Python. PostgreSQL hashes with md5(); SQLite has no hash
function, so `prepare` registers one (`dr_hash32`, md5 in the sqlite3 module's callback)
on every connection of the engine. The row texts and the sums are the same SQL on both.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, event, text

from paycore.dr.model import Digest, Fingerprint
from paycore.platform.db import make_engine

_ENTRY_ROW = (
    "CAST(seq AS TEXT) || '|' || account_id || '|' || transfer_id || '|' || event || '|' || "
    "side || '|' || CAST(amount AS TEXT) || '|' || CAST(debits_pending AS TEXT) || '|' || "
    "CAST(debits_posted AS TEXT) || '|' || CAST(credits_pending AS TEXT) || '|' || "
    "CAST(credits_posted AS TEXT)"
)
# Only what never changes: a hold's status moves on later, its other columns never do.
_TRANSFER_ROW = (
    "id || '|' || debit_account_id || '|' || credit_account_id || '|' || "
    "CAST(amount AS TEXT) || '|' || currency || '|' || CAST(flags AS TEXT) || '|' || "
    "COALESCE(pending_id, '') || '|' || CAST(timeout_s AS TEXT) || '|' || CAST(code AS TEXT)"
)
_BALANCE_ROW = (
    "{id} || '|' || CAST(debits_pending AS TEXT) || '|' || CAST(debits_posted AS TEXT) || "
    "'|' || CAST(credits_pending AS TEXT) || '|' || CAST(credits_posted AS TEXT)"
)
_NONZERO = (
    "NOT (debits_pending = 0 AND debits_posted = 0 AND credits_pending = 0 AND credits_posted = 0)"
)
_IN_RANGE = "seq BETWEEN :lo AND :hi"
_SOURCES = {
    "entries": f"SELECT {{hash}} AS h, amount AS amount FROM ledger_entries WHERE {_IN_RANGE}",
    "transfers": (
        "SELECT {hash} AS h, amount AS amount FROM ledger_transfers WHERE id IN "
        f"(SELECT transfer_id FROM ledger_entries WHERE {_IN_RANGE})"
    ),
    # Each account's balances as of :hi: the snapshot in its last entry at or before it.
    "balances": (
        "SELECT {hash} AS h, credits_posted AS amount FROM ledger_entries WHERE seq IN "
        f"(SELECT max(seq) FROM ledger_entries WHERE {_IN_RANGE} GROUP BY account_id) "
        f"AND {_NONZERO}"
    ),
    "live_balances": (
        f"SELECT {{hash}} AS h, credits_posted AS amount FROM ledger_accounts WHERE {_NONZERO}"
    ),
}
_ROW_TEXTS = {
    "entries": _ENTRY_ROW,
    "transfers": _TRANSFER_ROW,
    "balances": _BALANCE_ROW.format(id="account_id"),
    "live_balances": _BALANCE_ROW.format(id="id"),
}
# The inner query yields h (a hash, or on SQLite the row's text); the outer sums its halves.
_HALVES = {
    "postgresql": (
        "('x' || substr(h, 1, 8))::bit(32)::bigint",
        "('x' || substr(h, 9, 8))::bit(32)::bigint",
    ),
    "sqlite": ("dr_hash32(h, 0)", "dr_hash32(h, 1)"),
}


def prepare(engine: Engine) -> Engine:
    """Give SQLite's connections the hash function the fingerprint SQL calls."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _register_hash)
    return engine


@contextlib.contextmanager
def open_engine(url: str) -> Iterator[Engine]:
    """A small engine on `url` with the hash function, disposed on exit."""
    engine = prepare(make_engine(url, pool_size=2))
    try:
        yield engine
    finally:
        engine.dispose()


def _register_hash(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function("dr_hash32", 2, _hash32, deterministic=True)


@lru_cache(maxsize=4)  # the two halves of a row are asked one after the other
def _md5(row: str) -> bytes:
    return hashlib.md5(row.encode(), usedforsecurity=False).digest()


def _hash32(row: str, half: int) -> int:
    """The same 32 bits PostgreSQL reads from md5's hex digest: high half 0, low half 1."""
    digest = _md5(row)
    return int.from_bytes(digest[4 * half : 4 * half + 4], "big")


def digest(conn: Connection, part: str, *, lo: int = 0, hi: int = 0) -> Digest:
    """Count, amount sum and hash sums of one part (see `_SOURCES`) over seq lo..hi."""
    dialect = conn.dialect.name
    row_text = _ROW_TEXTS[part]
    hashed = f"md5({row_text})" if dialect == "postgresql" else row_text
    high, low = _HALVES[dialect]
    sql = (
        f"SELECT count(*), COALESCE(sum(amount), 0), COALESCE(sum({high}), 0), "
        f"COALESCE(sum({low}), 0) FROM ({_SOURCES[part].format(hash=hashed)}) AS hashed"
    )
    rows, amount, hash_high, hash_low = conn.execute(text(sql), {"lo": lo, "hi": hi}).one()
    return Digest(int(rows), int(amount), int(hash_high), int(hash_low))


def fingerprint(conn: Connection, seq: int) -> Fingerprint:
    """The ledger's fingerprint as of journal position `seq` (see model.Fingerprint)."""
    return Fingerprint(
        seq=seq,
        entries=digest(conn, "entries", lo=0, hi=seq),
        transfers=digest(conn, "transfers", lo=0, hi=seq),
        balances=digest(conn, "balances", lo=0, hi=seq),
    )


def last_seq(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COALESCE(max(seq), 0) FROM ledger_entries")).scalar_one())


def entry_at(conn: Connection, seq: int) -> tuple[str, str] | None:
    """(transfer id, account id) of the entry at `seq`, to name where journals part."""
    row = conn.execute(
        text("SELECT transfer_id, account_id FROM ledger_entries WHERE seq = :seq"), {"seq": seq}
    ).first()
    return None if row is None else (str(row[0]), str(row[1]))


def row_counts(conn: Connection) -> dict[str, int]:
    counts = {}
    for table in ("ledger_accounts", "ledger_transfers", "ledger_entries"):
        counts[table] = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    return counts


# -- PostgreSQL: the backup's point and the state of recovery ------------------------------


def create_point(conn: Connection, name: str) -> tuple[int, str, int]:
    """In the caller's REPEATABLE READ transaction: the snapshot's last seq, then a named
    restore point written after it (every transaction the snapshot sees committed before
    the point, so recovering to it restores at least that journal), and the timeline."""
    seq = last_seq(conn)  # the first statement: it fixes the snapshot
    lsn = conn.execute(text("SELECT pg_create_restore_point(:name)::text"), {"name": name})
    timeline = conn.execute(text("SELECT timeline_id FROM pg_control_checkpoint()"))
    return seq, str(lsn.scalar_one()), int(timeline.scalar_one())


def streamed_to(conn: Connection, application_name: str) -> str | None:
    """How far a WAL streamer connected under `application_name` has flushed."""
    row = conn.execute(
        text("SELECT flush_lsn::text FROM pg_stat_replication WHERE application_name = :name"),
        {"name": application_name},
    ).first()
    return None if row is None or row[0] is None else str(row[0])


def lsn_reached(conn: Connection, *, reached: str, target: str) -> bool:
    query = text("SELECT CAST(:reached AS pg_lsn) >= CAST(:target AS pg_lsn)")
    return bool(conn.execute(query, {"reached": reached, "target": target}).scalar_one())


def in_recovery(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one())


def create_slot(conn: Connection, name: str) -> None:
    """A physical slot that holds the WAL from now on, before its streamer even connects (a
    base backup's checkpoint may otherwise recycle the segment the streamer starts at)."""
    conn.execute(text("SELECT pg_create_physical_replication_slot(:name, true)"), {"name": name})


def streaming(conn: Connection, application_name: str) -> bool:
    query = "SELECT count(*) FROM pg_stat_replication WHERE application_name = :name"
    return bool(conn.execute(text(query), {"name": application_name}).scalar_one())


def drop_slot(conn: Connection, name: str) -> bool:
    """Drop the slot once its streamer has let go of it; True when it is gone."""
    conn.execute(
        text(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = :name AND NOT active"
        ),
        {"name": name},
    )
    query = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = :name"
    return not conn.execute(text(query), {"name": name}).scalar_one()
