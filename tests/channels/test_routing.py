"""Routing: which channels to try for an operation, in which order."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.channels.model import Operation
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Route, RouteCandidate, Router
from paycore.clock import ManualClock
from paycore.errors import Rejected
from tests.channels.fake_channel import FakeChannel


def registry_of(*names: str, closed: tuple[str, ...] = ()) -> ChannelRegistry:
    registry = ChannelRegistry(clock=ManualClock())
    for name in names:
        registry.add(FakeChannel(name))
    for name in closed:
        registry.health(name).force_open()
    return registry


def router_of(registry: ChannelRegistry, *routes: Route, seed: int = 7) -> Router:
    return Router(registry, routes, rng=random.Random(seed))


candidate_lists = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),  # priority
        st.integers(min_value=1, max_value=100),  # weight
        st.booleans(),  # breaker open
    ),
    min_size=1,
    max_size=6,
)


@given(specs=candidate_lists, seed=st.integers(min_value=0, max_value=2**32))
def test_candidates_are_the_channels_in_traffic_once_each_best_priority_first(
    specs: list[tuple[int, int, bool]], seed: int
) -> None:
    names = [f"ch{i}" for i in range(len(specs))]
    out = tuple(name for name, (_, _, is_open) in zip(names, specs, strict=True) if is_open)
    registry = registry_of(*names, closed=out)
    priority = {name: p for name, (p, _, _) in zip(names, specs, strict=True)}
    route = Route(
        "*",
        candidates=[
            RouteCandidate(name, priority=p, weight=w)
            for name, (p, w, _) in zip(names, specs, strict=True)
        ],
    )
    router = router_of(registry, route, seed=seed)
    for _ in range(3):
        tried = router.candidates("rent", "CNY", Operation.PAYIN)
        assert len(tried) == len(set(tried))
        assert set(tried) == set(names) - set(out)
        assert [priority[n] for n in tried] == sorted(priority[n] for n in tried)


@pytest.mark.parametrize(
    "weights", [{"a": 80, "b": 20}, {"a": 50, "b": 30, "c": 20}, {"a": 1, "b": 1}]
)
def test_the_first_choice_follows_the_weights(weights: dict[str, int]) -> None:
    registry = registry_of(*weights)
    route = Route("*", candidates=[RouteCandidate(n, weight=w) for n, w in weights.items()])
    router = router_of(registry, route)
    draws = 20_000
    firsts = Counter(router.candidates("rent", "CNY", Operation.PAYIN)[0] for _ in range(draws))
    total = sum(weights.values())
    for name, weight in weights.items():
        assert abs(firsts[name] / draws - weight / total) < 0.015


def test_the_second_choice_is_weighted_among_the_channels_left() -> None:
    registry = registry_of("a", "b", "c")
    weights = {"a": 60, "b": 30, "c": 10}
    route = Route("*", candidates=[RouteCandidate(n, weight=w) for n, w in weights.items()])
    router = router_of(registry, route)
    orders = Counter(
        tuple(router.candidates("rent", "CNY", Operation.PAYIN)) for _ in range(20_000)
    )
    after_a = orders[("a", "b", "c")] / (orders[("a", "b", "c")] + orders[("a", "c", "b")])
    assert abs(after_a - 0.75) < 0.02  # b's share of the 40 left once a is drawn


def test_a_seeded_router_gives_the_same_orders() -> None:
    def orders() -> list[list[str]]:
        registry = registry_of("a", "b", "c")
        route = Route("*", candidates=[RouteCandidate(n) for n in ("a", "b", "c")])
        router = router_of(registry, route, seed=42)
        return [router.candidates("rent", "CNY", Operation.PAYIN) for _ in range(20)]

    assert orders() == orders()


def test_a_lower_priority_channel_is_tried_only_after_the_better_ones() -> None:
    registry = registry_of("main", "backup")
    route = Route(
        "*", candidates=[RouteCandidate("backup", priority=2), RouteCandidate("main", priority=1)]
    )
    assert router_of(registry, route).candidates("rent", "CNY", Operation.PAYIN) == [
        "main",
        "backup",
    ]


def test_a_channel_with_an_open_breaker_is_left_out() -> None:
    registry = registry_of("main", "backup", closed=("main",))
    route = Route(
        "*", candidates=[RouteCandidate("main", priority=1), RouteCandidate("backup", priority=2)]
    )
    assert router_of(registry, route).candidates("rent", "CNY", Operation.PAYIN) == ["backup"]


def test_no_candidate_is_left_when_every_breaker_is_open() -> None:
    registry = registry_of("main", "backup", closed=("main", "backup"))
    route = Route("*", candidates=[RouteCandidate("main"), RouteCandidate("backup")])
    assert router_of(registry, route).candidates("rent", "CNY", Operation.PAYIN) == []


def test_the_most_specific_route_wins() -> None:
    registry = registry_of("any", "rent", "rent_cny", "usd", "rent_payout")
    router = router_of(
        registry,
        Route("*", candidates=[RouteCandidate("any")]),
        Route("*", "USD", [RouteCandidate("usd")]),
        Route("rent", candidates=[RouteCandidate("rent")]),
        Route("rent", "CNY", [RouteCandidate("rent_cny")]),
        Route(
            "rent",
            operations=frozenset({Operation.PAYOUT}),
            candidates=[RouteCandidate("rent_payout")],
        ),
    )
    cases = [
        ("rent", "CNY", Operation.PAYIN, "rent_cny"),
        ("rent", "EUR", Operation.PAYIN, "rent"),
        ("rent", "EUR", Operation.PAYOUT, "rent_payout"),
        ("rent", "USD", Operation.PAYIN, "rent"),
        ("deposit", "USD", Operation.PAYIN, "usd"),
        ("deposit", "CNY", Operation.REFUND, "any"),
    ]
    for product, currency, operation, expected in cases:
        assert router.candidates(product, currency, operation) == [expected]


def test_an_operation_without_a_route_is_no_route() -> None:
    registry = registry_of("bank")
    router = router_of(
        registry,
        Route("rent", candidates=[RouteCandidate("bank")], operations=frozenset({Operation.PAYIN})),
    )
    with pytest.raises(Rejected) as refused:
        router.candidates("rent", "CNY", Operation.PAYOUT)
    assert refused.value.code == "no_route"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Route("*", candidates=[]),
        lambda: Route("*", candidates=[RouteCandidate("bank"), RouteCandidate("bank")]),
        lambda: Route("*", "cny", [RouteCandidate("bank")]),
        lambda: Route("", candidates=[RouteCandidate("bank")]),
        lambda: Route("*", candidates=[RouteCandidate("bank")], operations=frozenset()),
        lambda: RouteCandidate("bank", weight=0),
        lambda: RouteCandidate("bank", priority=-1),
        lambda: RouteCandidate("bank", weight=True),
    ],
)
def test_a_malformed_route_is_refused(make: object) -> None:
    with pytest.raises(Rejected) as refused:
        make()  # type: ignore[operator]
    assert refused.value.code == "invalid_channel_config"


def test_a_route_naming_an_unknown_channel_is_refused() -> None:
    with pytest.raises(Rejected, match="unknown channel 'elsewhere'"):
        Router(registry_of("bank"), [Route("*", candidates=[RouteCandidate("elsewhere")])])


@pytest.mark.parametrize(
    ("first", "second"),
    [(None, None), ({Operation.PAYIN, Operation.REFUND}, {Operation.PAYIN})],
)
def test_two_routes_covering_the_same_operation_are_refused(
    first: set[Operation] | None, second: set[Operation] | None
) -> None:
    routes = [
        Route("rent", candidates=[RouteCandidate("bank")], operations=_ops(first)),
        Route("rent", candidates=[RouteCandidate("bank")], operations=_ops(second)),
    ]
    with pytest.raises(Rejected, match="cover the same operation"):
        Router(registry_of("bank"), routes)


def _ops(operations: set[Operation] | None) -> frozenset[Operation] | None:
    return None if operations is None else frozenset(operations)
