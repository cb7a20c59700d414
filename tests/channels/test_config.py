"""Channels and routes from PAYCORE_CHANNELS_FILE, with clear errors for a bad file."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from paycore.channels.config import (
    FACTORIES,
    ChannelConfig,
    load_channels,
    parse_config,
    read_config,
)
from paycore.channels.health import BreakerPolicy
from paycore.channels.model import Channel, Operation
from paycore.channels.routing import Route, RouteCandidate
from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.platform.config import Settings
from tests.channels.fake_channel import FakeChannel

SETTINGS = Settings(database_url="sqlite://", expiry_interval_s=1.0, data_dir="/srv/paycore")

GOOD: dict[str, Any] = {
    "channels": [
        {
            "name": "bank-a",
            "type": "sandbox",
            "base_url": "http://127.0.0.1:8100",
            "data_dir": "/srv/bank-a",
            "timeout_s": 1.5,
            "merchant_id": "m1",
            "breaker": {"open_s": 3, "min_calls": 20, "failure_rate_max": 0.3},
        },
        {"name": "bank-b", "type": "sandbox", "base_url": "https://bank-b.example"},
    ],
    "routes": [
        {
            "product": "rent",
            "currency": "CNY",
            "operations": ["payin", "refund"],
            "candidates": [
                {"channel": "bank-a", "priority": 1, "weight": 70},
                {"channel": "bank-b", "priority": 2},
            ],
        },
        {"product": "*", "candidates": [{"channel": "bank-b"}]},
    ],
}


def with_file(tmp_path: Path, content: str | bytes) -> Settings:
    path = tmp_path / "channels.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return Settings(
        database_url="sqlite://", expiry_interval_s=1.0, data_dir="/srv", channels_file=str(path)
    )


def fake_factory(config: ChannelConfig) -> Channel:
    return FakeChannel(config.name)


def test_without_a_file_one_sandbox_channel_serves_every_product() -> None:
    config = read_config(SETTINGS)
    assert config.channels == (
        ChannelConfig(
            name="sandbox",
            type="sandbox",
            base_url="http://127.0.0.1:8100",
            data_dir=str(Path("/srv/paycore") / "sandbox-bank"),
            timeout_s=2.0,
            merchant_id="paycore",
            fee_bps=0,
        ),
    )
    assert config.routes == (Route("*", candidates=[RouteCandidate("sandbox")]),)


def test_a_file_is_read_with_every_field() -> None:
    config = parse_config(GOOD, settings=SETTINGS)
    bank_a, bank_b = config.channels
    assert bank_a == ChannelConfig(
        name="bank-a",
        type="sandbox",
        base_url="http://127.0.0.1:8100",
        data_dir="/srv/bank-a",
        timeout_s=1.5,
        merchant_id="m1",
        breaker=BreakerPolicy(open_s=3, min_calls=20, failure_rate_max=0.3),
    )
    assert (bank_b.data_dir, bank_b.timeout_s, bank_b.breaker) == (
        str(Path("/srv/paycore") / "sandbox-bank"),
        2.0,
        BreakerPolicy(),
    )
    rent = config.routes[0]
    assert (rent.product, rent.currency, rent.operations) == (
        "rent",
        "CNY",
        frozenset({Operation.PAYIN, Operation.REFUND}),
    )
    assert [(c.channel, c.priority, c.weight) for c in rent.candidates] == [
        ("bank-a", 1, 70),
        ("bank-b", 2, 100),
    ]


def test_loading_builds_the_channels_and_a_router_over_them(tmp_path: Path) -> None:
    settings = with_file(tmp_path, json.dumps(GOOD))
    channels = load_channels(
        settings, factories={"sandbox": fake_factory}, clock=ManualClock(), rng=random.Random(1)
    )
    assert channels.registry.names() == ["bank-a", "bank-b"]
    assert channels.registry.health("bank-a").policy.open_s == 3
    router = channels.router
    assert router.candidates("rent", "CNY", Operation.PAYIN) == ["bank-a", "bank-b"]
    assert router.candidates("rent", "CNY", Operation.PAYOUT) == ["bank-b"]
    channels.registry.health("bank-a").force_open()
    assert router.candidates("rent", "CNY", Operation.PAYIN) == ["bank-b"]


def test_the_channel_types_are_the_sandbox_bank_and_host_to_host_file_banks() -> None:
    assert set(FACTORIES) == {"sandbox", "h2h"}


def mutate(path: str, value: object) -> dict[str, Any]:
    """GOOD with the value at a dotted path replaced (or removed when value is DELETE)."""
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    return data


DELETE = object()

BAD = [
    ("channels", [], "channels: must be a non-empty JSON array"),
    ("channels", DELETE, "configuration: missing channels"),
    ("extra", 1, "configuration: unknown key 'extra'"),
    ("channels.0.name", "Bank A", "channels[0].name: lower case"),
    ("channels.1.name", "bank-a", "channels[1].name: 'bank-a' is used twice"),
    ("channels.0.type", "carrier-pigeon", "unknown channel type 'carrier-pigeon'"),
    ("channels.0.base_url", "ftp://bank", "channels[0].base_url: must be an http"),
    ("channels.0.base_url", DELETE, "channels[0]: missing base_url"),
    ("channels.0.timeout_s", 0, "channels[0].timeout_s: must be a number > 0 and <= 60"),
    ("channels.0.timeout_s", "2", "channels[0].timeout_s: must be a number"),
    ("channels.0.timeout_s", 600, "channels[0].timeout_s: must be a number > 0 and <= 60"),
    ("channels.0.timeout_s", True, "channels[0].timeout_s"),
    ("channels.0.name", "a" * 25, "channels[0].name: lower case"),
    ("channels.0.query_schedule_s", [], "channels[0].query_schedule_s: 1 to 16 whole seconds"),
    ("channels.0.query_schedule_s", [0, 60], "channels[0].query_schedule_s"),
    ("channels.0.query_schedule_s", [1.5], "channels[0].query_schedule_s"),
    ("channels.0.query_schedule_s", "60", "channels[0].query_schedule_s"),
    ("channels.0.merchant_id", 7, "channels[0].merchant_id: must be a non-empty string"),
    ("channels.0.colour", "red", "channels[0]: unknown key 'colour'"),
    ("channels.0.breaker", [], "channels[0].breaker: must be a JSON object"),
    ("channels.0.breaker.open_s", -1, "channels[0].breaker: open_s must be > 0"),
    ("channels.0.breaker.min_calls", 2.5, "channels[0].breaker.min_calls: must be an integer"),
    ("channels.0.breaker.open_seconds", 1, "channels[0].breaker: unknown key 'open_seconds'"),
    ("channels.0.fee_bps", -1, "channels[0].fee_bps: must be an integer from 0 to 10000"),
    ("channels.0.fee_bps", 10_001, "channels[0].fee_bps: must be an integer from 0 to 10000"),
    ("channels.0.fee_bps", 0.6, "channels[0].fee_bps"),
    ("channels.0.fee_bps", True, "channels[0].fee_bps"),
    ("routes", {}, "routes: must be a non-empty JSON array"),
    ("routes.0.product", "", "routes[0].product: must be a non-empty string"),
    ("routes.0.currency", "cny", "routes[0]: route 'rent': currency must be three capital"),
    ("routes.0.operations", ["pay"], "routes[0].operations: each one of payin, payout, refund"),
    ("routes.0.candidates", [], "routes[0].candidates: must be a non-empty JSON array"),
    ("routes.0.candidates.0.channel", "bank-z", "no channel named 'bank-z'"),
    ("routes.0.candidates.0.weight", 0, "routes[0].candidates[0]: weight must be an integer"),
    ("routes.0.candidates.0.priority", "1", "routes[0].candidates[0].priority: must be an int"),
    ("routes.1.product", "rent", None),  # allowed: the second rent route serves every operation
    ("routes.1.operations", ["payin"], None),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD)
def test_a_bad_file_is_refused_naming_the_place(path: str, value: object, message: str) -> None:
    data = mutate(path, value)
    if message is None:
        parse_config(data, settings=SETTINGS)
        return
    with pytest.raises(Rejected) as refused:
        parse_config(data, settings=SETTINGS)
    assert refused.value.code == "invalid_channel_config"
    assert message in refused.value.detail


def test_two_routes_for_the_same_operation_are_refused() -> None:
    data = mutate("routes.1", copy.deepcopy(GOOD["routes"][0]))
    with pytest.raises(Rejected, match="cover the same operation"):
        parse_config(data, settings=SETTINGS)


def test_the_document_must_be_an_object() -> None:
    with pytest.raises(Rejected, match="configuration: must be a JSON object"):
        parse_config([GOOD], settings=SETTINGS)


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    settings = Settings(
        database_url="sqlite://",
        expiry_interval_s=1.0,
        channels_file=str(tmp_path / "nowhere.json"),
    )
    with pytest.raises(Rejected) as refused:
        read_config(settings)
    assert refused.value.code == "invalid_channel_config"
    assert "nowhere.json" in refused.value.detail


@pytest.mark.parametrize("content", ["{not json", b"\xff\xfe", ""])
def test_a_file_that_is_not_json_is_refused(tmp_path: Path, content: str | bytes) -> None:
    with pytest.raises(Rejected, match="not JSON"):
        read_config(with_file(tmp_path, content))


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    settings = with_file(tmp_path, json.dumps(mutate("channels.0.timeout_s", -1)))
    with pytest.raises(Rejected, match=r"channels\.json: channels\[0\]\.timeout_s"):
        read_config(settings)


def test_each_channel_has_its_own_query_back_schedule(tmp_path: Path) -> None:
    data = mutate("channels.0.query_schedule_s", [30, 120, 600])
    settings = with_file(tmp_path, json.dumps(data))
    channels = load_channels(settings, factories={"sandbox": fake_factory}, clock=ManualClock())

    assert channels.query_schedule_s("bank-a") == (30, 120, 600)
    assert channels.query_schedule_s("bank-b") == (60, 300, 1800, 7200)


def test_a_channel_may_state_its_contracted_pay_in_fee_for_reconciliation(
    tmp_path: Path,
) -> None:
    data = mutate("channels.0.fee_bps", 60)
    settings = with_file(tmp_path, json.dumps(data))
    channels = load_channels(settings, factories={"sandbox": fake_factory}, clock=ManualClock())

    assert (channels.fee_bps("bank-a"), channels.fee_bps("bank-b")) == (60, None)
