"""The registry: every channel call timed, judged and refused while the breaker is open."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime

import pytest

from paycore.channels.health import BreakerPolicy, BreakerState
from paycore.channels.model import (
    Channel,
    ChannelResult,
    ChannelStatus,
    ChannelTimeout,
    ChannelUnavailable,
    Operation,
    Payer,
    PayinRequest,
)
from paycore.channels.registry import ChannelRegistry, HealthProber
from paycore.clock import ManualClock
from paycore.errors import Rejected
from tests.channels.fake_channel import FakeChannel

POLICY = BreakerPolicy(min_calls=10, open_s=5.0, probe_interval_s=1.0, probe_successes_min=2)


def registry_with(*channels: FakeChannel) -> tuple[ChannelRegistry, ManualClock]:
    clock = ManualClock()
    registry = ChannelRegistry(clock=clock)
    for channel in channels:
        registry.add(channel, policy=POLICY)
    return registry, clock


def payin(channel: Channel) -> ChannelResult:
    return channel.pay_in(
        PayinRequest(
            reference="pay_1",
            amount_minor=100,
            currency="CNY",
            payer=Payer(card_number="6222020000000000"),
            description="rent",
            expires_at=datetime(2026, 1, 2, tzinfo=UTC),
            notify_url="http://127.0.0.1:8000/callbacks/bank",
        )
    )


def call_many(registry: ChannelRegistry, name: str, times: int) -> None:
    for _ in range(times):
        with contextlib.suppress(ChannelUnavailable, ChannelTimeout):
            registry.call(name, payin)


def test_a_call_returns_the_channels_result_and_counts_as_a_success() -> None:
    registry, _ = registry_with(FakeChannel("bank"))
    result = registry.call("bank", payin)
    assert result.status is ChannelStatus.SUCCEEDED
    snapshot = registry.health("bank").snapshot()
    assert (snapshot.calls, snapshot.failures) == (1, 0)


@pytest.mark.parametrize("mode", ["decline", "merchant_error"])
def test_payer_and_merchant_caused_failures_keep_the_breaker_closed(mode: str) -> None:
    registry, _ = registry_with(FakeChannel("bank", mode))
    call_many(registry, "bank", 50)
    snapshot = registry.health("bank").snapshot()
    assert (snapshot.state, snapshot.calls, snapshot.failures) == (BreakerState.CLOSED, 50, 0)


@pytest.mark.parametrize("mode", ["channel_error", "unavailable", "timeout"])
def test_channel_failures_open_the_breaker(mode: str) -> None:
    registry, _ = registry_with(FakeChannel("bank", mode))
    call_many(registry, "bank", POLICY.min_calls)
    assert registry.health("bank").snapshot().open_reason == "failure_rate"
    assert not registry.allows_traffic("bank")


def test_errors_from_the_channel_propagate_unchanged() -> None:
    registry, _ = registry_with(FakeChannel("bank", "timeout"))
    with pytest.raises(ChannelTimeout):
        registry.call("bank", payin)


def test_an_open_breaker_refuses_the_call_without_reaching_the_channel() -> None:
    bank = FakeChannel("bank", "unavailable")
    registry, _ = registry_with(bank)
    call_many(registry, "bank", POLICY.min_calls)
    reached = bank.calls
    bank.mode = "ok"
    with pytest.raises(ChannelUnavailable) as refused:
        registry.call("bank", payin)
    assert refused.value.channel == "bank"
    assert bank.calls == reached


def test_a_call_may_bypass_the_breaker_for_a_query_back() -> None:
    bank = FakeChannel("bank")
    registry, _ = registry_with(bank)
    registry.health("bank").force_open()
    result = registry.call("bank", lambda c: c.query(Operation.PAYIN, "pay_1"), check_breaker=False)
    assert result.status is ChannelStatus.SUCCEEDED
    assert bank.calls == 1


def test_an_unknown_channel_is_channel_not_found() -> None:
    registry, _ = registry_with(FakeChannel("bank"))
    with pytest.raises(Rejected) as refused:
        registry.call("elsewhere", payin)
    assert refused.value.code == "channel_not_found"


def test_a_channel_name_can_be_added_only_once() -> None:
    registry, _ = registry_with(FakeChannel("bank"))
    with pytest.raises(Rejected) as refused:
        registry.add(FakeChannel("bank"))
    assert refused.value.code == "invalid_channel_config"
    assert registry.names() == ["bank"]


def test_probes_restore_a_channel_once_it_answers_again() -> None:
    bank = FakeChannel("bank", "unavailable")
    bank.probe_ok = False
    registry, clock = registry_with(bank, FakeChannel("other"))
    call_many(registry, "bank", POLICY.min_calls)
    assert registry.run_due_probes() == {}  # not before open_s
    clock.advance(POLICY.open_s)
    assert registry.run_due_probes() == {"bank": False}
    clock.advance(POLICY.open_s)
    bank.probe_ok = True
    assert registry.run_due_probes() == {"bank": True}
    assert not registry.allows_traffic("bank")  # two good probes are needed
    clock.advance(POLICY.probe_interval_s)
    assert registry.run_due_probes() == {"bank": True}
    assert registry.allows_traffic("bank")
    assert bank.probes == 3


def test_the_prober_thread_restores_a_channel_in_the_background() -> None:
    bank = FakeChannel("bank")
    clock = ManualClock()
    registry = ChannelRegistry(clock=clock)
    registry.add(bank, policy=BreakerPolicy(open_s=5.0, probe_successes_min=1))
    registry.health("bank").force_open()
    with HealthProber(registry, tick_s=0.01):
        clock.advance(5.0)
        deadline = time.monotonic() + 5.0
        while not registry.allows_traffic("bank") and time.monotonic() < deadline:
            time.sleep(0.01)
    assert registry.allows_traffic("bank")
    assert bank.probes == 1


def test_snapshots_list_every_channel_in_the_order_added() -> None:
    registry, _ = registry_with(FakeChannel("b"), FakeChannel("a"))
    assert [s.channel for s in registry.snapshots()] == ["b", "a"]
    assert isinstance(registry.get("a"), FakeChannel)
