"""Bill workers (bills/workers.py): bills computed in niced processes of their own, with
the server's clock, their refusals keeping their codes, no more at once than processes,
and a dead worker answered 503 `bills_worker_lost` and replaced."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore.bills.admission import Admission, BillsRefused, Limits
from paycore.bills.workers import WORKER_NICE, BillReader, BillWorkers
from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.bills.conftest import Shop

PROCESSES = 2
SLOW_SQLITE = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM (SELECT i FROM n LIMIT 1000000000)"
)


@pytest.fixture
def workers(
    runtime: Runtime, database_url: str, clock: ManualClock, tmp_path: Path
) -> Iterator[BillWorkers]:
    settings = Settings(
        database_url=database_url,
        expiry_interval_s=1.0,
        data_dir=str(tmp_path / "data"),
        bills_statement_timeout_ms=200,
        bills_processes=PROCESSES,
    )
    pool = BillWorkers(
        processes=PROCESSES,
        settings=settings,
        reports_url=database_url,
        local=BillReader(runtime.bills, runtime.merchants),
        clock=clock,
    )
    yield pool
    pool.close()


# Work run in a worker: module functions, as the routes' are.


def who(reader: BillReader) -> tuple[int, int, datetime]:
    return os.getpid(), os.nice(0), reader.bills.clock.now()


def refuse(_reader: BillReader, code: str) -> None:
    raise Rejected(code, "refused in a worker")


def hold(_reader: BillReader, seconds: float) -> tuple[int, float, float]:
    began = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
    time.sleep(seconds)
    return os.getpid(), began, time.monotonic()


def die(_reader: BillReader) -> None:
    os._exit(3)


def slow_query(reader: BillReader) -> None:
    with reader.bills.read_engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(SLOW_SQLITE).all()
        else:
            conn.exec_driver_sql("SELECT pg_sleep(5)").all()


def write(reader: BillReader) -> None:
    with reader.bills.read_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM bills_closed_days")


def run(workers: BillWorkers, work: Any, *args: Any) -> Any:
    return asyncio.run(workers.run(work, *args))


def test_a_bill_runs_in_a_niced_process_of_its_own_at_the_servers_time(
    workers: BillWorkers, clock: ManualClock
) -> None:
    clock.advance(3600)
    pid, nice, now = run(workers, who)

    assert pid != os.getpid()
    assert pid in workers.pids()
    assert nice >= os.nice(0) + min(WORKER_NICE, 19 - os.nice(0))
    assert now == clock.now() == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert workers.calls_total == 1


def test_a_rejection_in_a_worker_reaches_the_caller_with_its_code(workers: BillWorkers) -> None:
    with pytest.raises(Rejected) as refused:
        run(workers, refuse, "invalid_period")

    assert (refused.value.code, refused.value.detail) == ("invalid_period", "refused in a worker")


def test_a_query_past_the_statement_timeout_in_a_worker_is_bills_query_timeout(
    workers: BillWorkers,
) -> None:
    with pytest.raises(BillsRefused) as refused:
        run(workers, slow_query)

    assert (refused.value.code, refused.value.status) == ("bills_query_timeout", 503)
    assert refused.value.retry_after_s == 30


def test_a_worker_cannot_write(workers: BillWorkers) -> None:
    with pytest.raises(Exception, match=r"(?i)read.only|readonly"):
        run(workers, write)


def test_no_more_bills_run_at_once_than_there_are_processes(workers: BillWorkers) -> None:
    async def many() -> list[tuple[int, float, float]]:
        return list(await asyncio.gather(*(workers.run(hold, 0.3) for _ in range(6))))

    done = asyncio.run(many())

    assert len({pid for pid, _began, _ended in done}) <= PROCESSES
    for _pid, began, _ended in done:
        running = sum(1 for _p, b, e in done if b <= began < e)
        assert running <= PROCESSES


def test_a_dead_worker_fails_its_bill_with_503_and_the_next_bill_gets_a_new_one(
    workers: BillWorkers,
) -> None:
    first, *_ = run(workers, who)

    with pytest.raises(BillsRefused) as refused:
        run(workers, die)
    pid, _nice, _now = run(workers, who)

    assert (refused.value.code, refused.value.status) == ("bills_worker_lost", 503)
    assert workers.lost_total == 1
    assert pid != first and pid in workers.pids()


def test_a_statement_from_a_worker_is_the_one_the_server_computes(
    billed_merchant: Shop, runtime: Runtime, workers: BillWorkers
) -> None:
    m = billed_merchant.merchant_id
    headers = {"Authorization": f"Bearer {billed_merchant.key}"}
    paths = [f"/v1/bills/{m}/statements/2026-10", f"/v1/bills/{m}/2026-10.json"]
    runtime.bills_admission = Admission(replace(Limits.of(runtime.settings), time_share=1000.0))
    with TestClient(create_app(runtime=runtime)) as api:
        in_server = [api.get(path, headers=headers) for path in paths]
        html_in_server = api.get(f"/v1/bills/{m}/2026-10.html", headers=headers)
        runtime.bill_workers = workers
        in_workers = [api.get(path, headers=headers) for path in paths]
        html = api.get(f"/v1/bills/{m}/2026-10.html", headers=headers)

    assert [a.status_code for a in [*in_server, *in_workers, html]] == [200] * 5, html.text
    assert [a.json() for a in in_workers] == [a.json() for a in in_server]
    assert html.text == html_in_server.text
    assert workers.calls_total == 3
