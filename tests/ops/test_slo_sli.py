"""SLI recording from real requests: counted per minute in memory, flushed in batches."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from paycore.clock import ManualClock
from paycore.ops import store
from paycore.ops.sli import SliMiddleware, SliRecorder
from paycore.runtime import Runtime
from paycore.web.app import create_app


def _rows(engine: Engine) -> dict[tuple[str, str, datetime], tuple[int, int]]:
    m = store.sli_minutes
    with engine.connect() as conn:
        found = conn.execute(select(m.c.sli, m.c.node, m.c.minute_at, m.c.good, m.c.total))
        return {(r.sli, r.node, r.minute_at): (r.good, r.total) for r in found}


@pytest.fixture
def app(recorder: SliRecorder) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SliMiddleware)
    app.state.sli = recorder

    @app.get("/v1/payins")
    def fine() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/v1/accounts")
    def broken() -> dict[str, str]:
        raise RuntimeError("boom")

    return app


def test_requests_are_counted_in_memory_and_written_only_by_a_flush(
    app: FastAPI, recorder: SliRecorder, engine: Engine, clock: ManualClock
) -> None:
    minute = clock.now()
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/payins").status_code == 200
        assert client.get("/v1/payins").status_code == 200
        assert client.get("/v1/accounts").status_code == 500
    assert _rows(engine) == {}  # nothing written per request
    assert recorder.flush(engine) == 2
    assert _rows(engine) == {
        ("api_availability", "n1", minute): (2, 3),
        ("latency:payments", "n1", minute): (2, 2),  # the 500 counts once, as unavailable
    }


def test_flushes_add_to_the_minutes_already_written(
    recorder: SliRecorder, engine: Engine, clock: ManualClock
) -> None:
    first = clock.now()
    recorder.record_request("/v1/transfers", 200, 50.0)
    recorder.flush(engine)
    recorder.record_request("/v1/transfers", 200, 250.0)  # over the ledger's 200 ms
    recorder.record_request("/v1/transfers", 503, 1.0)
    clock.advance(60)
    recorder.record_request("/v1/transfers", 200, 10.0)
    recorder.flush(engine)
    assert recorder.flush(engine) == 0  # nothing new
    second = clock.now()
    assert _rows(engine) == {
        ("api_availability", "n1", first): (2, 3),
        ("latency:ledger", "n1", first): (1, 2),
        ("api_availability", "n1", second): (1, 1),
        ("latency:ledger", "n1", second): (1, 1),
    }


def test_two_processes_keep_their_own_rows_and_the_evaluation_adds_them(
    engine: Engine, clock: ManualClock, recorder: SliRecorder
) -> None:
    other = SliRecorder(recorder.config, clock, node="n2")
    recorder.record("probe:health", good=True)
    other.record("probe:health", good=False)
    recorder.flush(engine)
    other.flush(engine)
    assert set(_rows(engine)) == {
        ("probe:health", "n1", clock.now()),
        ("probe:health", "n2", clock.now()),
    }


def test_a_failed_flush_keeps_the_counts_for_the_next_one(
    recorder: SliRecorder, engine: Engine, clock: ManualClock
) -> None:
    recorder.record("api_availability", good=True)

    class Broken:
        def connect(self) -> None:
            raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        recorder.flush(Broken())  # type: ignore[arg-type]
    recorder.record("api_availability", good=False)
    recorder.flush(engine)
    assert _rows(engine) == {("api_availability", "n1", clock.now()): (1, 2)}


def test_the_flusher_writes_once_more_when_stopped(recorder: SliRecorder, engine: Engine) -> None:
    stop = threading.Event()
    recorder.record("api_availability", good=True)
    stop.set()
    recorder.run_flusher(engine, stop, interval_s=3600)
    assert sum(total for _, total in _rows(engine).values()) == 1


def test_the_paycore_app_counts_each_of_its_requests_once(
    runtime: Runtime, recorder: SliRecorder, engine: Engine, clock: ManualClock
) -> None:
    runtime.sli = recorder  # the app's lifespan hands the runtime's recorder to the middleware
    app = create_app(runtime=runtime)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/balances").status_code == 401  # the caller's fault, not ours
        assert client.get("/nowhere").status_code == 404
    recorder.flush(engine)
    minute = clock.now()
    assert _rows(engine) == {
        ("api_availability", "n1", minute): (3, 3),
        ("latency:ops", "n1", minute): (1, 1),
        ("latency:ledger", "n1", minute): (1, 1),
        ("latency:other", "n1", minute): (1, 1),
    }
