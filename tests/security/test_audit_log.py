"""The audit log in the database: one chain under concurrent appends, refused changes, and
`paycore audit verify|list` naming the first bad seq after a DBA's edit, removal or swap."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.security.cli_audit import audit_app
from paycore.security.reveal import AuditLog
from tests.security.conftest_audit import as_dba, audit_log, entry  # noqa: F401

runner = CliRunner()


@pytest.fixture
def five(audit_log: AuditLog, clock: ManualClock) -> AuditLog:  # noqa: F811
    for n in range(1, 6):
        audit_log.record(entry(clock, n))
        clock.advance(1)
    return audit_log


def _verify(database_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("PAYCORE_DATABASE_URL", database_url)
    result = runner.invoke(audit_app, ["verify", *args])
    return result.exit_code, result.output


def test_records_are_chained_in_seq_order_and_verify_passes(
    five: AuditLog, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = five.list()

    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert [r.entry.object_id for r in records] == [f"pay_{n}" for n in range(1, 6)]
    code, output = _verify(database_url, monkeypatch)
    assert code == 0, output
    assert f"head 5:{records[-1].hash}" in output


def test_the_database_refuses_to_update_or_delete_a_record(five: AuditLog, engine: Engine) -> None:
    for statement in ("UPDATE audit_log SET reason = 'nothing to see'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)

    assert len(five.list()) == 5


@pytest.mark.parametrize(
    ("tamper", "bad_seq"),
    [
        (["UPDATE audit_log SET reason = 'routine check, nothing more' WHERE seq = 3"], 3),
        (["DELETE FROM audit_log WHERE seq = 2"], 2),
        (["DELETE FROM audit_log WHERE seq = 5"], 5),
        # Two records swap places: each takes the other's seq (the seq is the primary key).
        (
            [
                "UPDATE audit_log SET seq = -1 WHERE seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE seq = 4",
                "UPDATE audit_log SET seq = 4 WHERE seq = -1",
            ],
            3,
        ),
    ],
    ids=["edited reason", "removed record", "removed last record", "swapped records"],
)
def test_verify_names_the_first_bad_seq_of_a_tampered_chain_and_exits_1(
    five: AuditLog,
    engine: Engine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tamper: list[str],
    bad_seq: int,
) -> None:
    with as_dba(engine) as conn:
        for statement in tamper:
            conn.exec_driver_sql(statement)

    code, output = _verify(database_url, monkeypatch)

    assert code == 1
    assert f"BROKEN at seq {bad_seq}:" in output
    assert five.verify().broken is not None


def test_verify_with_an_anchor_finds_a_chain_rewritten_after_it(
    five: AuditLog, engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchor = f"4:{five.list()[3].hash}"
    with as_dba(engine) as conn:  # the DBA recomputes nothing: any change to 4 shows
        conn.exec_driver_sql("UPDATE audit_log SET hash = prev_hash WHERE seq = 4")

    assert _verify(database_url, monkeypatch, "--anchor", anchor)[0] == 1
    assert _verify(database_url, monkeypatch, "--anchor", "9:" + "0" * 64)[0] == 1


def test_concurrent_appends_from_many_connections_keep_one_chain(
    engine: Engine,
    clock: ManualClock,
    audit_log: AuditLog,  # noqa: F811
) -> None:
    writers, each = 4, 5
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def append(worker: int) -> None:
        try:
            start.wait()
            for n in range(each):
                audit_log.record(entry(clock, worker * 100 + n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    verified = audit_log.verify()
    assert verified.broken is None
    assert verified.head.seq == writers * each
    assert len({r.entry.object_id for r in audit_log.list()}) == writers * each


def test_list_filters_by_actor_and_instant(
    five: AuditLog, clock: ManualClock, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = five.list()[2].entry.at

    assert [r.seq for r in five.list(since=since)] == [3, 4, 5]
    assert [r.seq for r in five.list(actor_key_id="key_2")] == [2]
    monkeypatch.setenv("PAYCORE_DATABASE_URL", database_url)
    result = runner.invoke(audit_app, ["list", "--actor", "key_4"])
    assert result.exit_code == 0, result.output
    assert "pay_4" in result.output and "pay_3" not in result.output


def test_an_empty_log_verifies(
    audit_log: AuditLog,  # noqa: F811
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, output = _verify(database_url, monkeypatch)

    assert code == 0, output
    assert "intact: 0 records" in output
