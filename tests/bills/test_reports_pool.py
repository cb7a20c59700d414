"""The reports pool: bills read through an engine of their own, bounded, read-only, with a
deadline on every statement; the main engine keeps none of that."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from paycore.bills import reports_pool
from paycore.bills.admission import BillsCollector
from paycore.platform.config import Settings
from paycore.runtime import Runtime

# Counts up to `n` one row at a time: work the database cannot skip.
_COUNT_TO = text(
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < :n)"
    " SELECT count(*) FROM c"
)
_ROWS_TO = text(
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < :n) SELECT n FROM c"
)
_LONG = 50_000_000  # minutes of work on either database: only a deadline ends it


@pytest.fixture
def reports_engine(database_url: str) -> Iterator[Engine]:
    settings = Settings(
        database_url=database_url,
        expiry_interval_s=1.0,
        reports_pool_size=2,
        reports_pool_timeout_s=0.05,
        bills_statement_timeout_ms=100,
    )
    engine = reports_pool.make_reports_engine(database_url, settings)
    yield engine
    engine.dispose()


def _run_long(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_sleep(30)"))
        else:
            conn.execute(_COUNT_TO, {"n": _LONG}).scalar_one()


def test_bills_read_the_main_database_through_an_engine_of_their_own(runtime: Runtime) -> None:
    assert runtime.reports_engine is not runtime.engine
    assert runtime.reports_engine.url == runtime.engine.url
    assert runtime.bills.read_engine is runtime.reports_engine
    stats = reports_pool.pool_stats(runtime.reports_engine)
    assert stats is not None and stats.size == runtime.settings.reports_pool_size


def test_bills_read_where_the_reports_url_points(runtime: Runtime, tmp_path: object) -> None:
    elsewhere = f"sqlite:///{tmp_path}/replica.db"
    settings = dataclasses.replace(runtime.settings, reports_database_url=elsewhere)
    other = Runtime.build(
        settings,
        engine=runtime.engine,
        clock=runtime.clock,
        ledger=runtime.ledger,
        channels=runtime.channels,
        cipher=runtime.cipher,
    )
    try:
        assert other.reports_engine.url.render_as_string(hide_password=False) == elsewhere
    finally:
        other.close()


def test_a_bill_query_past_its_deadline_is_stopped_and_known_as_a_timeout(
    reports_engine: Engine,
) -> None:
    with pytest.raises(DBAPIError) as raised:
        _run_long(reports_engine)
    assert reports_pool.is_statement_timeout(raised.value)


def test_the_connection_of_a_stopped_query_serves_the_next_bill(reports_engine: Engine) -> None:
    with pytest.raises(DBAPIError):
        _run_long(reports_engine)
    for _ in range(3):  # both pooled connections, one of them the one interrupted
        with reports_engine.connect() as conn:
            assert conn.execute(_COUNT_TO, {"n": 10}).scalar_one() == 10


def test_the_deadline_ends_with_its_statement_so_a_slow_reader_can_still_commit(
    reports_engine: Engine,
) -> None:
    with reports_engine.connect() as conn:
        assert conn.execute(_COUNT_TO, {"n": 10}).scalar_one() == 10
        time.sleep(0.2)  # past the 100 ms deadline of the statement above
        assert conn.execute(_COUNT_TO, {"n": 20}).scalar_one() == 20
        time.sleep(0.2)
        conn.commit()


def test_a_streamed_result_may_take_longer_to_read_than_one_statement_may_run(
    reports_engine: Engine,
) -> None:
    got = []
    with reports_engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=10).execute(
            _ROWS_TO, {"n": 30}
        )
        for row in rows:
            got.append(row.n)
            time.sleep(0.01)  # 300 ms in all, three deadlines' worth
    assert got == list(range(1, 31))


def test_the_main_engine_has_no_bill_deadline(engine: Engine, reports_engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"
        else:  # ~0.3 s of counting: three times the bills' deadline
            assert conn.execute(_COUNT_TO, {"n": 300_000}).scalar_one() == 300_000


def test_a_bill_cannot_write_through_the_reports_engine(reports_engine: Engine) -> None:
    with pytest.raises(DBAPIError), reports_engine.begin() as conn:
        conn.execute(text("DELETE FROM merchants"))


def test_the_reports_pool_is_bounded_and_gives_up_quickly_when_exhausted(
    reports_engine: Engine,
) -> None:
    with reports_engine.connect(), reports_engine.connect():
        with pytest.raises(PoolTimeout):
            reports_engine.connect()
        stats = reports_pool.pool_stats(reports_engine)
        assert stats is not None and (stats.in_use, stats.waiting) == (2, 0)
    stats = reports_pool.pool_stats(reports_engine)
    assert stats is not None
    assert (stats.in_use, stats.waits_total, stats.timeouts_total) == (0, 1, 1)


def test_the_reports_pool_is_on_the_bills_metrics(runtime: Runtime) -> None:
    collector = BillsCollector(runtime.bills_admission, runtime.reports_engine)
    names = {metric.name for metric in collector.collect()}
    assert {
        "paycore_reports_pool_size",
        "paycore_reports_pool_in_use",
        "paycore_reports_pool_waiting",
        "paycore_reports_pool_waits",
        "paycore_reports_pool_timeouts",
        "paycore_bills_running",
        "paycore_bills_admitted",
        "paycore_bills_refused",
    } <= names


def test_only_in_memory_sqlite_is_read_through_the_main_engine() -> None:
    assert reports_pool.shares_memory("sqlite://")
    assert reports_pool.shares_memory("sqlite:///:memory:")
    assert not reports_pool.shares_memory("sqlite:///var/paycore.db")
    assert not reports_pool.shares_memory("postgresql+psycopg://u@h/db")
