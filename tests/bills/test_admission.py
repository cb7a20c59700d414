"""Admission of bill requests: per-merchant concurrency and rate, a cap at the reports
pool's size, and refusals that are 429 (or 503 for a query past its deadline) with
Retry-After, answered without the database."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, event, text

from paycore.bills import admission, reports_pool
from paycore.bills.admission import (
    Admission,
    BillsRefused,
    Limits,
    TimeBudget,
    TokenBucket,
    admit,
)
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.security.service import ApiKeys
from paycore.web.app import create_app

LIMITS = Limits(
    running_max=3, running_per_merchant_max=2, rate_per_s=1.0, burst=3, time_share=1000.0
)
HOLD_TIMEOUT_S = 10.0


class FakeMonotonic:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def _refusal(state: Admission, merchant: str) -> BillsRefused:
    with pytest.raises(BillsRefused) as raised:
        state.enter(merchant)
    return raised.value


@given(
    rate_per_s=st.floats(min_value=0.01, max_value=100),
    burst=st.integers(min_value=1, max_value=50),
    gaps_s=st.lists(st.floats(min_value=0, max_value=5), max_size=200),
)
def test_a_bucket_never_gives_more_than_its_burst_plus_what_its_rate_refilled(
    rate_per_s: float, burst: int, gaps_s: list[float]
) -> None:
    bucket = TokenBucket(rate_per_s=rate_per_s, burst=burst, now_s=0.0)
    now_s, taken = 0.0, 0
    for gap_s in gaps_s:
        now_s += gap_s
        wait_s = bucket.take(now_s)
        if wait_s == 0:
            taken += 1
        else:  # told the truth: a token is there after the wait
            assert 0 < wait_s <= 1 / rate_per_s + 1e-9
            probe = TokenBucket(rate_per_s=rate_per_s, burst=burst, now_s=0.0)
            probe.tokens, probe.updated_s = bucket.tokens, bucket.updated_s
            assert probe.take(now_s + wait_s + 1e-9) == 0
    assert taken <= burst + now_s * rate_per_s + 1e-6


@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["enter", "leave"]), st.sampled_from(["m1", "m2", "m3"])),
        max_size=100,
    )
)
def test_running_bills_never_pass_the_cap_nor_a_merchants_share(
    steps: list[tuple[str, str]],
) -> None:
    clock = FakeMonotonic()
    state = Admission(
        dataclasses.replace(LIMITS, rate_per_s=1e9, burst=1000),
        monotonic=clock,
    )
    running: dict[str, int] = {}
    for action, merchant in steps:
        if action == "leave":
            if running.get(merchant):
                state.leave(merchant)
                running[merchant] -= 1
            continue
        expected_admitted = sum(running.values()) < 3 and running.get(merchant, 0) < 2
        try:
            state.enter(merchant)
        except BillsRefused as refused:
            assert not expected_admitted
            assert (refused.code, refused.status, refused.retry_after_s) == ("bills_busy", 429, 1)
        else:
            assert expected_admitted
            running[merchant] = running.get(merchant, 0) + 1
        assert state.running == sum(running.values()) <= 3


def test_a_merchant_past_its_rate_is_told_when_its_next_token_is_due() -> None:
    clock = FakeMonotonic()
    state = Admission(LIMITS, monotonic=clock)
    for _ in range(3):  # the burst
        state.enter("m1")
        state.leave("m1")
    refused = _refusal(state, "m1")
    assert (refused.code, refused.status, refused.retry_after_s) == ("bills_rate_limited", 429, 1)
    state.enter("m2")  # another merchant has its own bucket
    state.leave("m2")
    clock.now_s += 1.0
    state.enter("m1")
    assert state.refused_total == {
        "bills_busy": 0,
        "bills_rate_limited": 1,
        "bills_query_timeout": 0,
    }


def test_a_bill_turned_away_as_busy_spends_no_token() -> None:
    clock = FakeMonotonic()
    state = Admission(LIMITS, monotonic=clock)
    state.enter("m1")
    state.enter("m1")
    for _ in range(10):
        assert _refusal(state, "m1").code == "bills_busy"
    state.leave("m1")
    state.enter("m1")  # the third token of the burst is still there


def test_limits_come_from_the_settings_and_the_cap_is_the_reports_pool_size() -> None:
    settings = Settings(database_url="sqlite://", expiry_interval_s=1.0, reports_pool_size=7)
    limits = Limits.of(settings)
    assert limits.running_max == 7
    assert (limits.running_per_merchant_max, limits.rate_per_s, limits.burst) == (2, 1.0, 10)
    assert limits.time_share == 0.2


@given(
    share=st.floats(min_value=0.01, max_value=1),
    bills=st.lists(
        st.tuples(st.floats(min_value=0, max_value=3), st.floats(min_value=0, max_value=3)),
        max_size=100,
    ),
)
def test_bills_started_one_after_another_never_run_more_than_their_share_of_the_time(
    share: float, bills: list[tuple[float, float]]
) -> None:
    budget = TimeBudget(share=share, burst_s=1.0, now_s=0.0)
    now_s, ran_s, longest_s = 0.0, 0.0, 0.0
    for pause_s, took_s in bills:
        now_s += pause_s
        wait_s = budget.wait_s(now_s)
        if wait_s > 0:
            now_s += wait_s  # told the truth: it may start once the debt is paid
            assert budget.wait_s(now_s) == 0
        now_s += took_s
        budget.spend(took_s, now_s)
        ran_s += took_s
        longest_s = max(longest_s, took_s)
    assert ran_s <= 1.0 + share * now_s + longest_s + 1e-6


def test_a_process_whose_bills_used_their_share_of_time_is_busy_until_it_is_paid_back() -> None:
    clock = FakeMonotonic()
    state = Admission(dataclasses.replace(LIMITS, time_share=0.5), monotonic=clock)
    started_s = state.enter("m1")
    clock.now_s += 3.0  # one bill of 3 s: 1 s saved up, 2 s of debt, 4 s to pay it at 0.5
    state.leave("m1", started_s)
    refused = _refusal(state, "m2")
    assert (refused.code, refused.status) == ("bills_busy", 429)
    assert refused.retry_after_s >= 4
    clock.now_s += 3.5
    assert _refusal(state, "m2").code == "bills_busy"
    clock.now_s += refused.retry_after_s - 3.5
    state.enter("m2")


# --- over HTTP: a stand-in heavy bill route that holds its slot until released ---------


class Held:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)


@pytest.fixture
def held() -> Held:
    return Held()


@pytest.fixture
def deadline_engine(runtime: Runtime) -> Iterator[Engine]:
    """A reports engine whose statements may run 50 ms."""
    settings = dataclasses.replace(runtime.settings, bills_statement_timeout_ms=50)
    engine = reports_pool.make_reports_engine(
        reports_pool.reports_url(settings, runtime.engine), settings
    )
    yield engine
    engine.dispose()


@pytest.fixture
def bills_client(
    runtime: Runtime, admin_key: str, held: Held, deadline_engine: Engine
) -> Iterator[TestClient]:
    router = APIRouter()

    @router.get("/v1/test-bills/{merchant}", dependencies=[Depends(admit)])
    def hold(merchant: str) -> dict[str, str]:
        held.entered.release()
        held.release.wait(HOLD_TIMEOUT_S)
        return {"merchant": merchant}

    @router.get("/v1/test-bills/{merchant}/slow", dependencies=[Depends(admit)])
    def slow(merchant: str) -> dict[str, str]:
        with deadline_engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_sleep(30)"))
            else:
                conn.execute(
                    text(
                        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c"
                        " WHERE n < 50000000) SELECT count(*) FROM c"
                    )
                )
        return {"merchant": merchant}

    # These tests hold bills as long as they like: the time share has a test of its own.
    limits = dataclasses.replace(Limits.of(runtime.settings), time_share=1000.0)
    runtime.bills_admission = Admission(limits)
    app = create_app(runtime=runtime)
    admission.install(app)
    app.include_router(router)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client
    held.release.set()


def _hold(
    client: TestClient, held: Held, pool: ThreadPoolExecutor, path: str, n: int
) -> list[Future[int]]:
    futures = [pool.submit(lambda: client.get(path).status_code) for _ in range(n)]
    for _ in range(n):
        assert held.entered.acquire(timeout=HOLD_TIMEOUT_S)
    return futures


def test_a_merchants_third_concurrent_bill_is_429_busy_while_another_merchant_is_served(
    bills_client: TestClient, held: Held
) -> None:
    with ThreadPoolExecutor(4) as pool:
        running = _hold(bills_client, held, pool, "/v1/test-bills/mch_a", 2)
        refused = bills_client.get("/v1/test-bills/mch_a")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "bills_busy"
        other = _hold(bills_client, held, pool, "/v1/test-bills/mch_b", 1)
        held.release.set()
        assert [f.result() for f in running + other] == [200, 200, 200]
    assert bills_client.get("/v1/test-bills/mch_a").status_code == 200  # slots are freed


def test_no_more_bills_run_than_the_reports_pool_has_connections(
    runtime: Runtime, bills_client: TestClient, held: Held
) -> None:
    size = runtime.settings.reports_pool_size
    with ThreadPoolExecutor(size + 1) as pool:
        running = [
            f
            for i in range(size)
            for f in _hold(bills_client, held, pool, f"/v1/test-bills/m{i}", 1)
        ]
        refused = bills_client.get("/v1/test-bills/one_more")
        assert (refused.status_code, refused.json()["code"]) == (429, "bills_busy")
        held.release.set()
        assert {f.result() for f in running} == {200}


def test_a_merchant_key_spends_its_own_merchants_limits_whatever_path_it_names(
    runtime: Runtime, bills_client: TestClient, held: Held, api_keys: ApiKeys
) -> None:
    runtime.merchants.create(name="A", merchant_id="mch_a")
    _key, clear = api_keys.issue(merchant_id="mch_a", label="tests")
    mine = {"Authorization": f"Bearer {clear}"}
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(lambda p=p: bills_client.get(p, headers=mine).status_code)
            for p in ("/v1/test-bills/mch_x", "/v1/test-bills/mch_y")
        ]
        for _ in futures:
            assert held.entered.acquire(timeout=HOLD_TIMEOUT_S)
        refused = bills_client.get("/v1/test-bills/mch_z", headers=mine)
        assert refused.json()["code"] == "bills_busy"
        held.release.set()
        assert [f.result() for f in futures] == [200, 200]


def test_a_refused_bill_is_answered_without_a_database_query(
    runtime: Runtime, bills_client: TestClient, held: Held
) -> None:
    queries: list[str] = []

    def count(*args: object) -> None:
        queries.append(str(args[2]))

    with ThreadPoolExecutor(2) as pool:
        running = _hold(bills_client, held, pool, "/v1/test-bills/mch_a", 2)
        for engine in (runtime.engine, runtime.reports_engine):
            event.listen(engine, "before_cursor_execute", count)
        try:
            assert bills_client.get("/v1/test-bills/mch_a").status_code == 429
        finally:
            for engine in (runtime.engine, runtime.reports_engine):
                event.remove(engine, "before_cursor_execute", count)
        held.release.set()
        assert [f.result() for f in running] == [200, 200]
    assert queries == []


def test_a_bill_query_past_its_deadline_is_503_with_retry_after_not_a_500(
    runtime: Runtime, bills_client: TestClient
) -> None:
    answer = bills_client.get("/v1/test-bills/mch_a/slow")
    assert answer.status_code == 503
    assert answer.json()["code"] == "bills_query_timeout"
    assert int(answer.headers["Retry-After"]) > 0
    assert runtime.bills_admission.refused_total["bills_query_timeout"] == 1
    assert runtime.bills_admission.running == 0
