"""Audit reasons sealed at rest (migration 0031): new records keep only a token bound to
their seq, the chain hashes that token and verifies without a key, records written before
keep their clear reason and verify as they did, and readers see the reason opened."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.security import store_audit
from paycore.security.audit import (
    FORMAT_CLEAR,
    FORMAT_SEALED,
    ChainHead,
    next_record,
    reason_context,
)
from paycore.security.cli_audit import audit_app
from paycore.security.crypto import FieldCipher
from paycore.security.reveal import UNREADABLE_REASON, AuditLog
from tests.security.conftest_audit import REASON, as_dba, entry

runner = CliRunner()
KEY = os.urandom(32)
SECRET_NAME = "Han Meimei"
"""A name typed into a reason: what sealing is for (no mask recognizes names)."""


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher({"audit1": KEY}, "audit1")


@pytest.fixture
def log(engine: Engine, clock: ManualClock, cipher: FieldCipher) -> AuditLog:
    """An empty log (PostgreSQL tables are shared by the run)."""
    with as_dba(engine) as conn:
        conn.exec_driver_sql("DELETE FROM audit_log")
        conn.exec_driver_sql("DELETE FROM audit_chain_head")
    return AuditLog(engine, clock, cipher=cipher)


def _rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        query = select(store_audit.audit_log).order_by(store_audit.audit_log.c.seq)
        return [dict(r._mapping) for r in conn.execute(query)]


def _old_record(engine: Engine, clock: ManualClock, n: int) -> None:
    """A record as paycore wrote it before 0031: format 1, the reason in clear."""
    with engine.begin() as conn:
        record = next_record(store_audit.lock_head(conn), entry(clock, n))
        store_audit.append(conn, record)


def _cli(engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp: Path, *args: str) -> str:
    monkeypatch.setenv("PAYCORE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PAYCORE_DATA_DIR", str(tmp))
    monkeypatch.setenv("PAYCORE_FIELD_KEYS", f"audit1:{base64.b64encode(KEY).decode()}")
    result = runner.invoke(audit_app, list(args))
    assert result.exit_code in (0, 1), result.output
    return f"{result.exit_code}\n{result.output}"


def test_a_new_record_keeps_only_a_sealed_reason_bound_to_its_seq(
    log: AuditLog, engine: Engine, clock: ManualClock, cipher: FieldCipher
) -> None:
    reason = f"{SECRET_NAME} called about a charge, ticket 4712"
    written = log.record(entry(clock, 1, reason=reason))

    [row] = _rows(engine)
    assert (row["reason"], row["format"]) == (None, FORMAT_SEALED)
    token = str(row["reason_enc"])
    assert SECRET_NAME not in token and written.reason_enc == token
    assert written.entry.reason is None  # the record returned is the one stored
    assert cipher.decrypt(token, context=reason_context(1)) == reason
    with pytest.raises(Exception, match="another context"):
        cipher.decrypt(token, context=reason_context(2))
    assert [r.entry.reason for r in log.list()] == [reason]
    assert log.verify().broken is None


def test_records_from_before_0031_keep_their_clear_reason_and_chain_on_with_sealed_ones(
    log: AuditLog, engine: Engine, clock: ManualClock
) -> None:
    _old_record(engine, clock, 1)
    _old_record(engine, clock, 2)
    log.record(entry(clock, 3))

    rows = _rows(engine)
    assert [(r["format"], r["reason"] is None, r["reason_enc"] is None) for r in rows] == [
        (None, False, True),
        (None, False, True),
        (FORMAT_SEALED, True, False),
    ]
    assert [r.record_format for r in log.list()] == [FORMAT_CLEAR, FORMAT_CLEAR, FORMAT_SEALED]
    assert [r.entry.reason for r in log.list()] == [f"{REASON} #{n}" for n in (1, 2, 3)]
    assert log.verify().broken is None


@pytest.mark.parametrize(
    ("tamper", "bad_seq"),
    [
        ("UPDATE audit_log SET reason = 'routine check, nothing more' WHERE seq = 1", 1),
        ("UPDATE audit_log SET reason_enc = :other WHERE seq = 3", 3),
        ("UPDATE audit_log SET reason_enc = :forged WHERE seq = 3", 3),
        ("UPDATE audit_log SET reason = 'routine check, nothing more' WHERE seq = 4", 4),
        ("UPDATE audit_log SET reason_enc = :forged, reason = NULL WHERE seq = 2", 2),
        ("UPDATE audit_log SET format = NULL, reason = 'routine check' WHERE seq = 3", 3),
        ("DELETE FROM audit_log WHERE seq = 3", 3),
    ],
    ids=[
        "old clear reason edited",
        "sealed reason swapped for another record's",
        "sealed reason swapped for a valid token of the same seq",
        "clear reason written beside a sealed one",
        "old record given a token",
        "sealed record turned back into an old one",
        "sealed record removed",
    ],
)
def test_verify_finds_every_edit_of_old_and_sealed_records_without_a_key(
    log: AuditLog,
    engine: Engine,
    clock: ManualClock,
    cipher: FieldCipher,
    tamper: str,
    bad_seq: int,
) -> None:
    _old_record(engine, clock, 1)
    _old_record(engine, clock, 2)
    for n in (3, 4, 5):
        log.record(entry(clock, n))
    other = str(_rows(engine)[3]["reason_enc"])
    forged = cipher.encrypt("routine check, nothing more", context=reason_context(3))

    with as_dba(engine) as conn:
        values = {"other": other, "forged": forged}
        conn.execute(text(tamper), {k: v for k, v in values.items() if f":{k}" in tamper})

    keyless = AuditLog(engine, clock, cipher=None)
    broken = keyless.verify().broken
    assert broken is not None and broken.seq == bad_seq


def test_reordered_sealed_records_break_the_chain_and_their_reasons_no_longer_open(
    log: AuditLog, engine: Engine, clock: ManualClock
) -> None:
    for n in (1, 2, 3):
        log.record(entry(clock, n))
    with as_dba(engine) as conn:
        for statement in (
            "UPDATE audit_log SET seq = -1 WHERE seq = 1",
            "UPDATE audit_log SET seq = 1 WHERE seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE seq = -1",
        ):
            conn.exec_driver_sql(statement)

    broken = log.verify().broken
    assert broken is not None and broken.seq == 1
    assert [r.entry.reason for r in log.list()][:2] == [UNREADABLE_REASON] * 2


def test_the_log_still_refuses_update_and_delete_after_0031(
    log: AuditLog, engine: Engine, clock: ManualClock
) -> None:
    _old_record(engine, clock, 1)
    log.record(entry(clock, 2))
    for statement in (
        "UPDATE audit_log SET reason_enc = NULL",
        "UPDATE audit_log SET reason = NULL WHERE seq = 1",
        "UPDATE audit_log SET format = 2",
        "DELETE FROM audit_log WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)

    assert log.verify().broken is None


def test_a_log_without_a_cipher_verifies_but_never_writes_a_clear_reason(
    log: AuditLog, engine: Engine, clock: ManualClock
) -> None:
    keyless = AuditLog(engine, clock, cipher=None)

    with pytest.raises(Exception, match="no cipher"):
        keyless.record(entry(clock, 1))

    assert _rows(engine) == []
    assert keyless.verify().head == ChainHead(0, "0" * 64)


def test_the_cli_lists_reasons_opened_and_verifies_with_no_key(
    log: AuditLog,
    engine: Engine,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _old_record(engine, clock, 1)
    log.record(entry(clock, 2, reason=f"{SECRET_NAME} asked for her statement"))

    listed = _cli(engine, monkeypatch, tmp_path, "list")
    monkeypatch.setenv("PAYCORE_FIELD_KEYS", "")
    monkeypatch.setenv("PAYCORE_KEY_PROVIDER", "pkcs11")  # unreachable: verify needs none
    verified = _cli(engine, monkeypatch, tmp_path, "verify")

    assert f"{REASON} #1" in listed and f"{SECRET_NAME} asked for her statement" in listed
    assert verified.startswith("0\n") and "intact: 2 records" in verified


def test_a_data_subject_export_shows_the_audit_reasons_opened(
    log: AuditLog, engine: Engine, clock: ManualClock
) -> None:
    _old_record(engine, clock, 1)
    log.record(entry(clock, 2))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(store_audit.audit_log))]

    shown = [log.shown(r) for r in rows]

    assert [s["reason"] for s in shown] == [f"{REASON} #1", f"{REASON} #2"]
    assert all("reason_enc" not in s for s in shown)


def test_instants_of_sealed_records_round_trip_to_the_microsecond(
    log: AuditLog, clock: ManualClock
) -> None:
    at = datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=UTC)
    log.record(entry(clock, 1, at=at))

    assert log.list()[0].entry.at == at
    assert log.verify().broken is None
