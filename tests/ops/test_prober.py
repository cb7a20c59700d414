"""The prober: a synthetic pay-in through each channel, the health and a read route, every
one recorded, none able to hang the round."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from paycore.channels.model import ChannelResult, ChannelUnavailable, PayinRequest
from paycore.clock import ManualClock
from paycore.consistency.service import FlowCheck
from paycore.ops import store
from paycore.ops.prober import PROBE_MERCHANT_ID, Prober
from paycore.ops.sli import SliRecorder
from paycore.ops.slo import ProbeConfig
from paycore.payments.store import orders
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.payments.fakes import ScriptedChannel, succeeded
from tests.payments.http_conftest import one_scripted_bank, runtime_with_one_scripted_bank

alpha = one_scripted_bank
runtime = runtime_with_one_scripted_bank

GENEROUS = ProbeConfig(interval_s=30.0, timeout_s=10.0)
"""A deadline no working probe comes near, even on a loaded machine: a round ends as soon
as its probes have answered."""


@pytest.fixture
def http(runtime: Runtime) -> Iterator[TestClient]:
    """The server's own API, as the prober reaches it over HTTP."""
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


@pytest.fixture
def prober(runtime: Runtime, http: TestClient, recorder: SliRecorder) -> Iterator[Prober]:
    prober = Prober.for_runtime(runtime, GENEROUS, recorder, http=http)
    yield prober
    prober.close(wait_for_probes=True)


def _probe_rows(engine: Engine) -> list[tuple[str, bool, str]]:
    p = store.probes
    with engine.connect() as conn:
        rows = conn.execute(select(p.c.target, p.c.ok, p.c.error).order_by(p.c.id))
        return [(r.target, r.ok, r.error) for r in rows]


def test_a_round_pays_in_through_each_channel_and_calls_health_and_a_read_route(
    prober: Prober, runtime: Runtime, alpha: ScriptedChannel, recorder: SliRecorder
) -> None:
    alpha.then(succeeded(), succeeded())
    first = prober.probe_once()
    second = prober.probe_once()  # the probe merchant and its key exist by now
    assert [(r.target, r.ok) for r in first + second] == [
        ("payin:alpha", True), ("health", True), ("read", True),
    ] * 2  # fmt: skip
    assert _probe_rows(runtime.engine) == [(r.target, r.ok, "") for r in first + second]
    with runtime.engine.connect() as conn:
        paid = conn.execute(
            select(orders.c.merchant_id, orders.c.product, orders.c.amount, orders.c.status)
        ).all()
    assert [tuple(r) for r in paid] == [(PROBE_MERCHANT_ID, "probe", 1, "succeeded")] * 2
    totals = {t.sli: (t.good, t.total) for t in recorder.totals()}
    assert totals == {"probe:payin:alpha": (2, 2), "probe:health": (2, 2), "probe:read": (2, 2)}


def test_the_probes_money_passes_the_ledger_and_cross_slice_checks(
    prober: Prober, runtime: Runtime, alpha: ScriptedChannel, clock: ManualClock
) -> None:
    alpha.then(succeeded())  # then one left processing (accepted, not yet paid)
    prober.probe_once()
    prober.probe_once()
    run, _report = runtime.ledger_checks.run()
    assert run.ok, run.problems
    assert FlowCheck(runtime.engine, clock).run().ok
    balances = runtime.payments.balances(PROBE_MERCHANT_ID)
    assert [(b["currency"], b["available"]) for b in balances] == [("CNY", 1)]


def test_a_channel_that_refuses_is_a_failed_probe_with_its_code(
    prober: Prober, runtime: Runtime, alpha: ScriptedChannel
) -> None:
    alpha.then(ChannelUnavailable("alpha", "connection refused"))
    results = {r.target: r for r in prober.probe_once()}
    assert not results["payin:alpha"].ok and results["payin:alpha"].error
    assert results["health"].ok and results["read"].ok


class HangingChannel(ScriptedChannel):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.release = threading.Event()

    def pay_in(self, request: PayinRequest) -> ChannelResult:
        self.release.wait(10)
        return super().pay_in(request)


def test_a_hung_channel_times_out_its_probe_and_is_not_called_again_meanwhile(
    runtime: Runtime, http: TestClient, recorder: SliRecorder
) -> None:
    hung = HangingChannel("hung")
    runtime.channels.registry.add(hung)
    prober = Prober(
        engine=runtime.engine,
        clock=runtime.clock,
        config=ProbeConfig(interval_s=1.0, timeout_s=0.2),
        payments=runtime.payments,
        cipher=runtime.cipher,
        merchants=runtime.merchants,
        api_keys=runtime.api_keys,
        channels=lambda: ["hung"],
        allows_traffic=lambda _name: True,
        http=http,
        recorder=recorder,
    )
    try:
        first = {r.target: (r.ok, r.error) for r in prober.probe_once()}
        second = {r.target: (r.ok, r.error) for r in prober.probe_once()}
    finally:
        hung.release.set()
        prober.close(wait_for_probes=True)
    assert first["payin:hung"] == (False, "timeout")
    assert second["payin:hung"] == (False, "still_running")
    assert list(first) == list(second) == ["payin:hung", "health", "read"]


def test_a_health_route_that_fails_or_does_not_answer_is_a_failed_probe(
    runtime: Runtime, recorder: SliRecorder
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(503)
        raise httpx.ReadTimeout("no answer", request=request)

    http = httpx.Client(transport=httpx.MockTransport(answer), base_url="http://paycore.test")
    prober = Prober(
        engine=runtime.engine,
        clock=runtime.clock,
        config=GENEROUS,
        payments=runtime.payments,
        cipher=runtime.cipher,
        merchants=runtime.merchants,
        api_keys=runtime.api_keys,
        channels=lambda: [],
        allows_traffic=lambda _name: True,
        http=http,
    )
    results = {r.target: (r.ok, r.error) for r in prober.probe_once()}
    prober.close()
    assert results == {"health": (False, "http_503"), "read": (False, "timeout")}


def test_suspending_the_probe_merchant_pauses_the_pay_in_probes_only(
    prober: Prober, runtime: Runtime, alpha: ScriptedChannel
) -> None:
    alpha.then(succeeded())
    prober.probe_once()
    runtime.merchants.set_status(PROBE_MERCHANT_ID, "suspended")
    paused = prober.probe_once()
    assert [r.target for r in paused] == ["health", "read"]
    assert [call[0] for call in alpha.calls] == ["payin"]
