"""Bills on a real streaming replica (PostgreSQL only): PAYCORE_REPORTS_DATABASE_URL names a
standby made with `pg_basebackup -R`; bills read there, the ledger writes to the primary,
the lag shows on /metrics and in each bill's `as_of`, and nothing of bills writes to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from paycore.bills.model import Statement
from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Router
from paycore.clock import ManualClock
from paycore.ledger.model import TransferRequest
from paycore.ledger.service import AccountRequest
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.web.app import create_app
from tests.bills.replica_cluster import ReplicatedPair, replica_pair

__all__ = ["replica_pair"]  # the session's primary and replica, started once

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
MONTH = "2026-11"
_ids = count(1)


@pytest.fixture
def runtime_on_replica(
    replica_pair: ReplicatedPair,
    field_cipher: FieldCipher,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Runtime]:
    """paycore configured as in production: the ledger on the primary, bills on the replica,
    both from the environment."""
    monkeypatch.setenv("PAYCORE_DATABASE_URL", replica_pair.primary.url())
    monkeypatch.setenv("PAYCORE_REPORTS_DATABASE_URL", replica_pair.replica.url())
    monkeypatch.setenv("PAYCORE_DATA_DIR", str(tmp_path))
    clock = ManualClock(NOW)
    registry = ChannelRegistry(clock=clock)
    runtime = Runtime.build(
        Settings.from_env(),
        clock=clock,
        channels=Channels(registry, Router(registry, [])),
        cipher=field_cipher,
    )
    yield runtime
    runtime.close()


@pytest.fixture
def merchant(runtime_on_replica: Runtime) -> str:
    """A merchant with one account, and a system account to pay it from."""
    merchant_id = f"mch_replica_{next(_ids)}"
    runtime_on_replica.ledger.create_accounts(
        [
            AccountRequest(currency="CNY", id=f"acct_{merchant_id}", owner_id=merchant_id),
            AccountRequest(currency="CNY", id=f"acct_{merchant_id}_src"),
        ]
    )
    return merchant_id


@pytest.fixture
def client(runtime_on_replica: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime_on_replica)) as client:
        yield client


def _pay(runtime: Runtime, merchant_id: str, amount: int) -> None:
    [result] = runtime.ledger.create_transfers(
        [
            TransferRequest(
                id=f"t_{merchant_id}_{next(_ids)}",
                debit_account_id=f"acct_{merchant_id}_src",
                credit_account_id=f"acct_{merchant_id}",
                amount=amount,
                currency="CNY",
            )
        ]
    )
    assert result.result == "created", result


def _received(statement: Statement) -> int:
    [account] = statement.accounts
    return account.closing.credits_posted


def _where(engine: Engine) -> tuple[bool, int]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT pg_is_in_recovery(), inet_server_port()")).one()
        return found[0], found[1]


def _gauges(client: TestClient) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if sample.name.startswith("paycore_reports_")
    }


def test_bills_read_on_the_replica_while_the_ledger_writes_on_the_primary(
    runtime_on_replica: Runtime, replica_pair: ReplicatedPair, merchant: str
) -> None:
    runtime = runtime_on_replica
    assert _where(runtime.reports_engine) == (True, replica_pair.replica.port)
    assert runtime.bills.read_engine is runtime.reports_engine
    assert _where(runtime.engine) == (False, replica_pair.primary.port)
    assert runtime.bills.engine is runtime.engine

    _pay(runtime, merchant, 1_500)

    sql = f"SELECT count(*) FROM ledger_transfers WHERE id LIKE 't_{merchant}_%'"
    assert replica_pair.primary.scalar(sql) == 1
    replica_pair.wait_replayed()
    assert replica_pair.replica.scalar(sql) == 1


def test_the_migrations_run_on_the_primary_reach_the_replica(
    replica_pair: ReplicatedPair,
) -> None:
    version = "SELECT version_num FROM alembic_version"
    assert replica_pair.replica.scalar(version) == replica_pair.primary.scalar(version)


def test_a_payment_on_the_primary_shows_in_the_bill_read_from_the_replica_once_replayed(
    runtime_on_replica: Runtime, replica_pair: ReplicatedPair, merchant: str
) -> None:
    _pay(runtime_on_replica, merchant, 2_000)
    replica_pair.wait_replayed()

    bill = runtime_on_replica.bills.statement(merchant, MONTH)

    assert _received(bill) == 2_000
    assert bill.as_of == NOW  # caught up: as fresh as the clock


def test_a_paused_replica_shows_its_lag_on_metrics_and_in_the_bill_and_catches_up_on_resume(
    runtime_on_replica: Runtime, replica_pair: ReplicatedPair, merchant: str, client: TestClient
) -> None:
    runtime = runtime_on_replica
    _pay(runtime, merchant, 1_000)
    replica_pair.wait_replayed()
    replica_pair.pause_replay()
    try:
        _pay(runtime, merchant, 250)
        replica_pair.wait_received()  # it has the payment, and knows it has not applied it

        first = _gauges(client)
        bill = runtime.bills.statement(merchant, MONTH)
        later = _wait_for_lag_above(client, first["paycore_reports_replica_lag_seconds"])
    finally:
        replica_pair.resume_replay()

    assert first["paycore_reports_in_recovery"] == 1
    assert first["paycore_reports_replica_lag_seconds"] > 0
    assert first["paycore_reports_replica_lag_bytes"] > 0
    assert later > first["paycore_reports_replica_lag_seconds"]  # the lag grows while paused
    assert _received(bill) == 1_000  # the bill does not have the second payment yet...
    stale = NOW - bill.as_of  # ...and says so: it is at least as stale as the lag seen before
    assert stale >= timedelta(seconds=first["paycore_reports_replica_lag_seconds"])

    replica_pair.wait_replayed()
    caught_up = runtime.bills.statement(merchant, MONTH)
    assert _received(caught_up) == 1_250
    assert caught_up.as_of == NOW
    assert _gauges(client)["paycore_reports_replica_lag_seconds"] == 0
    assert _gauges(client)["paycore_reports_replica_lag_bytes"] == 0


def test_bills_cannot_write_on_the_replica_it_refuses_every_write(
    runtime_on_replica: Runtime, replica_pair: ReplicatedPair
) -> None:
    replica = runtime_on_replica.reports_engine
    with pytest.raises(DBAPIError, match="read-only transaction"), replica.begin() as conn:
        conn.execute(text("DELETE FROM ledger_transfers"))
    # Not only the reports pool's read-only sessions: the standby itself refuses.
    refused = psycopg.errors.ReadOnlySqlTransaction
    with replica_pair.replica.connect() as raw:
        raw.execute("SET default_transaction_read_only = off")
        with pytest.raises(refused, match="cannot execute DELETE in a read-only transaction"):
            raw.execute("DELETE FROM ledger_transfers")


def test_closing_bill_days_writes_on_the_primary_and_the_replica_reads_the_rollups(
    runtime_on_replica: Runtime, replica_pair: ReplicatedPair, merchant: str
) -> None:
    runtime = runtime_on_replica
    _pay(runtime, merchant, 700)
    assert isinstance(runtime.clock, ManualClock)
    runtime.clock.advance(timedelta(days=1).total_seconds())

    closed = runtime.bills.close_days()  # would fail on the read-only replica

    assert closed
    replica_pair.wait_replayed()
    assert _received(runtime.bills.statement(merchant, MONTH)) == 700


def _wait_for_lag_above(client: TestClient, lag_s: float) -> float:
    """The replica's lag on /metrics once it exceeds `lag_s` (it grows with the wall clock
    while replay is paused; a few milliseconds suffice)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now_s = _gauges(client)["paycore_reports_replica_lag_seconds"]
        if now_s > lag_s:
            return now_s
        time.sleep(0.01)
    raise AssertionError(f"lag stayed at {lag_s} s for 10 s with replay paused")
