"""Channels and routes from the JSON file named by PAYCORE_CHANNELS_FILE.

    {"channels": [{"name": "sandbox", "type": "sandbox", "base_url": "http://127.0.0.1:8100",
                   "data_dir": "./var/sandbox-bank", "timeout_s": 2.0, "merchant_id": "paycore",
                   "breaker": {"open_s": 5.0}}],
     "routes": [{"product": "*", "currency": "CNY", "operations": ["payin"],
                 "candidates": [{"channel": "sandbox", "priority": 1, "weight": 100}]}]}

Only `name`, `type` and `base_url` of a channel and `product` and `candidates` of a route
are required; `breaker` takes any field of BreakerPolicy. Unknown keys are errors, so a typo
never silently falls back to a default. Without a file: one sandbox channel named "sandbox"
at PAYCORE_SANDBOX_URL (default http://127.0.0.1:8100) with its keys in
<data_dir>/sandbox-bank, routed for every product.
Every problem is Rejected("invalid_channel_config") naming the place, e.g.
`channels[1].timeout_s: must be a number > 0 and <= 60`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from paycore import strict_json
from paycore.channels.health import BreakerPolicy, Monotonic
from paycore.channels.model import Channel, Operation
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import ANY_PRODUCT, Route, RouteCandidate, Router, index_routes
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.platform.config import Settings

DEFAULT_CHANNEL_NAME = "sandbox"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8100"
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MERCHANT_ID = "paycore"

CONFIG_BYTES_MAX = 1_000_000
CHANNELS_MAX = 64
ROUTES_MAX = 1000
CANDIDATES_MAX = 64
CHANNEL_TIMEOUT_S_MAX = 60.0
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,23}")
"""Channel names: lower case, digits, `_ . -`, at most 24 characters (orders store them)."""
QUERY_SCHEDULE_DEFAULT_S = (60, 300, 1800, 7200)
"""When the janitor queries back an unanswered order: 1 min, 5 min, 30 min, 2 h after the
last try, then every 2 h. A channel may set its own (`query_schedule_s`)."""
QUERY_SCHEDULE_STEPS_MAX = 16
QUERY_STEP_S_MAX = 86_400


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    name: str
    type: str
    base_url: str
    data_dir: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    merchant_id: str = DEFAULT_MERCHANT_ID
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    query_schedule_s: tuple[int, ...] = QUERY_SCHEDULE_DEFAULT_S
    h2h: Mapping[str, str] = field(default_factory=dict)
    """A host-to-host bank's debtor and files (`"type": "h2h"`, see channels/h2h.py)."""
    fee_bps: int | None = None
    """The channel's contracted fee on each paid pay-in, in basis points (half up):
    reconciliation checks every statement line's fee against it. None: not checked."""


@dataclass(frozen=True, slots=True)
class ChannelsConfig:
    channels: tuple[ChannelConfig, ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True, slots=True)
class Channels:
    """What the rest of paycore uses: the channels with their health, and the router."""

    registry: ChannelRegistry
    router: Router
    query_schedules_s: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Per channel; a channel not named here uses QUERY_SCHEDULE_DEFAULT_S."""
    fees_bps: Mapping[str, int] = field(default_factory=dict)
    """Per channel with a contracted pay-in fee (ChannelConfig.fee_bps)."""

    def query_schedule_s(self, channel: str | None) -> tuple[int, ...]:
        return self.query_schedules_s.get(channel or "", QUERY_SCHEDULE_DEFAULT_S)

    def fee_bps(self, channel: str) -> int | None:
        return self.fees_bps.get(channel)


ChannelFactory = Callable[[ChannelConfig], Channel]


def _sandbox_channel(config: ChannelConfig) -> Channel:
    from paycore.channels.sandbox import load_sandbox_channel  # only when a sandbox is used

    return load_sandbox_channel(
        config.name, config.base_url, config.data_dir, timeout_s=config.timeout_s
    )


def _h2h_channel(config: ChannelConfig) -> Channel:
    from paycore.channels.h2h import load_h2h_channel  # only when an h2h bank is used

    return load_h2h_channel(config.name, config.h2h, data_dir=config.data_dir)


FACTORIES: Mapping[str, ChannelFactory] = {"sandbox": _sandbox_channel, "h2h": _h2h_channel}


def load_channels(
    settings: Settings,
    *,
    factories: Mapping[str, ChannelFactory] = FACTORIES,
    clock: Clock | None = None,
    monotonic: Monotonic | None = None,
    rng: random.Random | None = None,
) -> Channels:
    """Read the configuration (or the default) and build every channel and the router."""
    config = read_config(settings, types=factories)
    return build_channels(config, factories=factories, clock=clock, monotonic=monotonic, rng=rng)


def build_channels(
    config: ChannelsConfig,
    *,
    factories: Mapping[str, ChannelFactory] = FACTORIES,
    clock: Clock | None = None,
    monotonic: Monotonic | None = None,
    rng: random.Random | None = None,
) -> Channels:
    registry = ChannelRegistry(clock=clock, monotonic=monotonic)
    for channel_config in config.channels:
        channel = factories[channel_config.type](channel_config)
        registry.add(channel, policy=channel_config.breaker)
    schedules = {c.name: c.query_schedule_s for c in config.channels}
    fees = {c.name: c.fee_bps for c in config.channels if c.fee_bps is not None}
    return Channels(registry, Router(registry, config.routes, rng=rng), schedules, fees)


def default_config(settings: Settings) -> ChannelsConfig:
    sandbox = ChannelConfig(
        name=DEFAULT_CHANNEL_NAME,
        type="sandbox",
        base_url=settings.sandbox_url,
        data_dir=_default_data_dir(settings),
        fee_bps=0,  # the sandbox bank charges nothing unless started with a fee
    )
    route = Route(ANY_PRODUCT, candidates=[RouteCandidate(DEFAULT_CHANNEL_NAME)])
    return ChannelsConfig((sandbox,), (route,))


def read_config(settings: Settings, *, types: Mapping[str, object] | None = None) -> ChannelsConfig:
    """The file named by settings.channels_file, validated; the default when it is empty."""
    if not settings.channels_file:
        return default_config(settings)
    path = Path(settings.channels_file)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise Rejected("invalid_channel_config", f"{path}: {error.strerror}") from None
    if len(raw) > CONFIG_BYTES_MAX:
        raise Rejected("invalid_channel_config", f"{path}: over {CONFIG_BYTES_MAX} bytes")
    try:
        data = strict_json.loads(raw)
    except strict_json.MalformedJson as error:
        raise Rejected("invalid_channel_config", f"{path}: not JSON: {error.detail}") from None
    try:
        return parse_config(data, settings=settings, types=types)
    except Rejected as error:
        raise Rejected(error.code, f"{path}: {error.detail}") from None


def parse_config(
    data: object, *, settings: Settings, types: Mapping[str, object] | None = None
) -> ChannelsConfig:
    """Validate decoded JSON; `types` are the channel types there is a factory for."""
    known_types = sorted(FACTORIES if types is None else types)
    top = _object(data, "configuration", required={"channels", "routes"})
    channel_items = _list(top["channels"], "channels", CHANNELS_MAX)
    channels = tuple(
        _channel(item, f"channels[{i}]", settings, known_types)
        for i, item in enumerate(channel_items)
    )
    names = [c.name for c in channels]
    for i, name in enumerate(names):
        if name in names[:i]:
            _fail(f"channels[{i}].name", f"{name!r} is used twice")
    route_items = _list(top["routes"], "routes", ROUTES_MAX)
    routes = tuple(_route(item, f"routes[{i}]", set(names)) for i, item in enumerate(route_items))
    try:
        index_routes(routes, names)  # the same product, currency and operation twice
    except Rejected as error:
        _fail("routes", error.detail)
    return ChannelsConfig(channels, routes)


# -- one channel, one route -------------------------------------------------------------------

_CHANNEL_KEYS = {
    "name", "type", "base_url", "data_dir", "timeout_s", "merchant_id", "breaker",
    "query_schedule_s", "h2h", "fee_bps",
}  # fmt: skip


def _channel(item: object, where: str, settings: Settings, types: list[str]) -> ChannelConfig:
    obj = _object(item, where, required={"name", "type", "base_url"}, optional=_CHANNEL_KEYS)
    name = _string(obj, "name", where)
    if not NAME_PATTERN.fullmatch(name):
        _fail(f"{where}.name", "lower case letters, digits, '_', '.', '-'; at most 64")
    kind = _string(obj, "type", where)
    if kind not in types:
        _fail(f"{where}.type", f"unknown channel type {kind!r} (known: {', '.join(types)})")
    base_url = _string(obj, "base_url", where)
    if not base_url.startswith(("http://", "https://")):
        _fail(f"{where}.base_url", "must be an http:// or https:// URL")
    fee_bps = obj.get("fee_bps")
    if fee_bps is not None and (
        isinstance(fee_bps, bool) or not isinstance(fee_bps, int) or not 0 <= fee_bps <= 10_000
    ):
        _fail(f"{where}.fee_bps", "must be an integer from 0 to 10000")
    timeout_s = obj.get("timeout_s", DEFAULT_TIMEOUT_S)
    if not _is_number(timeout_s) or not 0 < timeout_s <= CHANNEL_TIMEOUT_S_MAX:
        _fail(f"{where}.timeout_s", f"must be a number > 0 and <= {CHANNEL_TIMEOUT_S_MAX:g}")
    return ChannelConfig(
        name=name,
        type=kind,
        base_url=base_url,
        data_dir=_string(obj, "data_dir", where, default=_default_data_dir(settings)),
        timeout_s=float(timeout_s),
        merchant_id=_string(obj, "merchant_id", where, default=DEFAULT_MERCHANT_ID),
        breaker=_breaker(obj.get("breaker", {}), f"{where}.breaker"),
        query_schedule_s=_schedule(obj.get("query_schedule_s"), f"{where}.query_schedule_s"),
        h2h=_strings(obj.get("h2h", {}), f"{where}.h2h"),
        fee_bps=fee_bps,
    )


def _strings(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        _fail(where, "must be a JSON object of strings")
    return dict(value)


def _schedule(value: object, where: str) -> tuple[int, ...]:
    if value is None:
        return QUERY_SCHEDULE_DEFAULT_S
    steps = value if isinstance(value, list) else None
    if (
        not steps
        or len(steps) > QUERY_SCHEDULE_STEPS_MAX
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in steps)
        or not all(1 <= v <= QUERY_STEP_S_MAX for v in steps)
    ):
        _fail(
            where,
            f"1 to {QUERY_SCHEDULE_STEPS_MAX} whole seconds, each 1 to {QUERY_STEP_S_MAX}",
        )
    return tuple(steps)


_BREAKER_FIELDS = {f.name: f.type for f in dataclasses.fields(BreakerPolicy)}


def _breaker(item: object, where: str) -> BreakerPolicy:
    obj = _object(item, where, optional=set(_BREAKER_FIELDS))
    for key, value in obj.items():
        integral = _BREAKER_FIELDS[key] == "int"
        if integral and not (isinstance(value, int) and not isinstance(value, bool)):
            _fail(f"{where}.{key}", "must be an integer")
        if not integral and not _is_number(value):
            _fail(f"{where}.{key}", "must be a number")
    try:
        return BreakerPolicy(**obj)
    except Rejected as error:
        _fail(where, error.detail.removeprefix("breaker: "))


def _route(item: object, where: str, channels: set[str]) -> Route:
    obj = _object(
        item, where, required={"product", "candidates"}, optional={"currency", "operations"}
    )
    product = _string(obj, "product", where)
    currency = _string(obj, "currency", where, default="") or None
    operations = None
    if "operations" in obj:
        values = [Operation(o) for o in Operation]
        names = _list(obj["operations"], f"{where}.operations", len(values))
        if not all(isinstance(n, str) and n in values for n in names):
            _fail(f"{where}.operations", f"each one of {', '.join(values)}")
        operations = frozenset(Operation(n) for n in names)
    items = _list(obj["candidates"], f"{where}.candidates", CANDIDATES_MAX)
    candidates = [_candidate(c, f"{where}.candidates[{i}]", channels) for i, c in enumerate(items)]
    try:
        return Route(product, currency, candidates, operations)
    except Rejected as error:
        _fail(where, error.detail)


def _candidate(item: object, where: str, channels: set[str]) -> RouteCandidate:
    obj = _object(item, where, required={"channel"}, optional={"priority", "weight"})
    name = _string(obj, "channel", where)
    if name not in channels:
        _fail(f"{where}.channel", f"no channel named {name!r} in channels")
    for key in ("priority", "weight"):
        value = obj.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool):
            _fail(f"{where}.{key}", "must be an integer")
    try:
        return RouteCandidate(name, obj.get("priority", 1), obj.get("weight", 100))
    except Rejected as error:
        _fail(where, error.detail.removeprefix(f"{name}: "))


# -- JSON shapes -------------------------------------------------------------------------------


def _default_data_dir(settings: Settings) -> str:
    return str(Path(settings.data_dir) / "sandbox-bank")


def _fail(where: str, detail: str) -> NoReturn:
    raise Rejected("invalid_channel_config", f"{where}: {detail}")


def _object(
    value: object,
    where: str,
    *,
    required: AbstractSet[str] = frozenset(),
    optional: AbstractSet[str] = frozenset(),
) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(where, "must be a JSON object")
    missing = sorted(required - value.keys())
    if missing:
        _fail(where, f"missing {', '.join(missing)}")
    unknown = sorted(value.keys() - required - optional)
    if unknown:
        _fail(where, f"unknown key {', '.join(map(repr, unknown))}")
    return value


def _list(value: object, where: str, length_max: int) -> list[Any]:
    if not isinstance(value, list) or not value:
        _fail(where, "must be a non-empty JSON array")
    if len(value) > length_max:
        _fail(where, f"at most {length_max} entries")
    return value


def _string(obj: dict[str, Any], key: str, where: str, *, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        _fail(f"{where}.{key}", "must be a non-empty string")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
