"""Migration 0031 on a log written before it: the old records keep their clear reason and
still verify, new records chain on sealed, and the database still refuses UPDATE and
DELETE (SQLite rebuilds the table to make `reason` nullable: its triggers must come back).
Runs on SQLite, and on a scratch PostgreSQL database when the suite runs on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from paycore.clock import ManualClock
from paycore.platform.db import make_engine, upgrade
from paycore.security import store_audit
from paycore.security.audit import FORMAT_CLEAR, FORMAT_SEALED, next_record
from paycore.security.crypto import FieldCipher
from paycore.security.reveal import AuditLog
from tests.migration_kit import downgrade, scratch_database
from tests.security.conftest_audit import REASON, entry

BEFORE = "0030_seal_copies"
AFTER = "0031_seal_audit_reason"
CLEAR_COLUMNS = (
    "seq, at, actor_key_id, merchant_id, action, object_type, object_id, fields, reason,"
    " request_id, prev_hash, hash"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the suite's is already at head)."""
    with scratch_database(request.param, tmp_path, "mig31") as url:
        yield url


def _write_old_records(engine: Engine, clock: ManualClock, count: int) -> None:
    """Records as the code before 0031 wrote them, into the table as it was then."""
    with engine.begin() as conn:
        for n in range(1, count + 1):
            record = next_record(store_audit.lock_head(conn), entry(clock, n))
            e = record.entry
            conn.execute(
                text(
                    f"INSERT INTO audit_log ({CLEAR_COLUMNS}) VALUES (:seq, :at, :actor,"
                    " NULL, :action, :type, :id, :fields, :reason, :req, :prev, :hash)"
                ),
                {
                    "seq": record.seq,
                    "at": e.at,
                    "actor": e.actor_key_id,
                    "action": e.action,
                    "type": e.object_type,
                    "id": e.object_id,
                    "fields": ",".join(e.fields),
                    "reason": e.reason,
                    "req": e.request_id,
                    "prev": record.prev_hash,
                    "hash": record.hash,
                },
            )
            conn.execute(
                text("UPDATE audit_chain_head SET seq = :seq, hash = :hash"),
                {"seq": record.seq, "hash": record.hash},
            )


def test_old_records_survive_0031_unchanged_and_the_log_stays_append_only(
    scratch_url: str, clock: ManualClock
) -> None:
    upgrade(scratch_url, BEFORE)
    engine = make_engine(scratch_url)
    try:
        _write_old_records(engine, clock, 3)
        upgrade(scratch_url, AFTER)

        log = AuditLog(engine, clock, cipher=FieldCipher({"m1": os.urandom(32)}, "m1"))
        log.record(entry(clock, 4))

        records = log.list()
        assert [r.record_format for r in records] == [FORMAT_CLEAR] * 3 + [FORMAT_SEALED]
        assert [r.entry.reason for r in records] == [f"{REASON} #{n}" for n in range(1, 5)]
        assert log.verify().broken is None
        for statement in ("UPDATE audit_log SET reason = NULL", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.exec_driver_sql(statement)
        with engine.connect() as conn:
            indexes = {"ix_audit_log_at", "ix_audit_log_actor"}
            if engine.dialect.name == "sqlite":
                found = conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log'"
                ).scalars()
                assert indexes <= set(found)
    finally:
        engine.dispose()


def test_0031_is_not_undone_over_sealed_reasons(scratch_url: str, clock: ManualClock) -> None:

    upgrade(scratch_url, AFTER)
    engine = make_engine(scratch_url)
    try:
        log = AuditLog(engine, clock, cipher=FieldCipher({"m1": os.urandom(32)}, "m1"))
        log.record(entry(clock, 1))
    finally:
        engine.dispose()
    with pytest.raises(RuntimeError, match="sealed reasons"):
        downgrade(scratch_url, BEFORE)
