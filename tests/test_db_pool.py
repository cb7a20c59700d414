"""The PostgreSQL pool survives connections the server dropped (a restart, an idle timeout):
one idle for a while is pinged and replaced before use; one dropped right after use fails
one statement, and the pool is replaced for the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from paycore.platform import db
from tests.conftest import POSTGRES_URL, postgres_only

pytestmark = postgres_only

BACKEND_PID = text("SELECT pg_backend_pid()")


@pytest.fixture
def pool() -> Iterator[Engine]:
    engine = db.make_engine(POSTGRES_URL, pool_size=2)
    yield engine
    engine.dispose()


def _pids_of_two_connections(engine: Engine) -> set[int]:
    with engine.connect() as first, engine.connect() as second:
        return {first.execute(BACKEND_PID).scalar_one(), second.execute(BACKEND_PID).scalar_one()}


def _terminate(pids: set[int]) -> None:
    """What a database restart does to the pool's connections."""
    killer = db.make_engine(POSTGRES_URL, pool_size=1)
    try:
        with killer.connect() as conn:
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        killer.dispose()


def test_connections_dropped_while_idle_are_replaced_at_checkout_without_an_error(
    pool: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _pids_of_two_connections(pool)
    _terminate(before)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection counts as idle

    after = _pids_of_two_connections(pool)

    assert after.isdisjoint(before)


def test_a_connection_dropped_right_after_use_fails_one_statement_then_the_pool_is_new(
    pool: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _pids_of_two_connections(pool)
    _terminate(before)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)  # never idle long enough to ping

    with pytest.raises(DBAPIError) as failed, pool.connect() as conn:
        conn.execute(BACKEND_PID)
    after = _pids_of_two_connections(pool)

    assert failed.value.connection_invalidated
    assert after.isdisjoint(before)


def test_a_connection_used_within_the_idle_limit_is_handed_out_without_a_ping(
    pool: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    ping = pool.dialect.do_ping
    monkeypatch.setattr(pool.dialect, "do_ping", lambda raw: pings.append(raw) or ping(raw))
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
    for _ in range(3):
        with pool.connect() as conn:
            conn.execute(BACKEND_PID)
    assert pings == []

    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    with pool.connect() as conn:
        conn.execute(BACKEND_PID)
    assert len(pings) == 1
