"""Routing rules at their edges: the limits of a route's settings, which routes may sit
side by side, and exactly which candidate a given random draw picks."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from paycore.channels.model import Operation
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import PRODUCT_LENGTH_MAX, Route, RouteCandidate, Router
from paycore.clock import ManualClock
from paycore.errors import Rejected
from tests.channels.fake_channel import FakeChannel


class ScriptedRandom(random.Random):
    """Draws the given values in turn, so a test knows which point each draw lands on."""

    def __init__(self, *draws: float) -> None:
        super().__init__(0)
        self.draws = list(draws)
        self.drawn = 0

    def random(self) -> float:
        value = self.draws[self.drawn]
        self.drawn += 1
        return value


def registry_of(*names: str) -> ChannelRegistry:
    registry = ChannelRegistry(clock=ManualClock())
    for name in names:
        registry.add(FakeChannel(name))
    return registry


def order_of(rng: random.Random, *levels: dict[str, int]) -> list[str]:
    """The candidates a router gives for one pay-in, levels being priorities 1, 2, ..."""
    candidates = [
        RouteCandidate(name, priority=priority, weight=weight)
        for priority, level in enumerate(levels, start=1)
        for name, weight in level.items()
    ]
    registry = registry_of(*(c.channel for c in candidates))
    router = Router(registry, [Route("*", candidates=candidates)], rng=rng)
    return router.candidates("rent", "CNY", Operation.PAYIN)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RouteCandidate("bank", priority=0),
        lambda: RouteCandidate("bank", priority=1000),
        lambda: RouteCandidate("bank", weight=1),
        lambda: RouteCandidate("bank", weight=1_000_000),
        lambda: Route("p" * PRODUCT_LENGTH_MAX, candidates=[RouteCandidate("bank")]),
    ],
)
def test_settings_at_exactly_their_limit_are_accepted(make: Callable[[], object]) -> None:
    make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: RouteCandidate("", priority=1),
        lambda: RouteCandidate("bank", priority=-1),
        lambda: RouteCandidate("bank", priority=1001),
        lambda: RouteCandidate("bank", priority=False),
        lambda: RouteCandidate("bank", weight=0),
        lambda: RouteCandidate("bank", weight=1_000_001),
        lambda: Route("p" * (PRODUCT_LENGTH_MAX + 1), candidates=[RouteCandidate("bank")]),
    ],
)
def test_settings_one_past_their_limit_are_refused_with_invalid_channel_config(
    make: Callable[[], object],
) -> None:
    with pytest.raises(Rejected) as refused:
        make()
    assert refused.value.code == "invalid_channel_config"


def test_routes_of_one_product_for_different_operations_sit_side_by_side() -> None:
    registry = registry_of("acquirer", "payout_bank")
    router = Router(
        registry,
        [
            Route("rent", operations=frozenset({Operation.PAYIN, Operation.REFUND}),
                  candidates=[RouteCandidate("acquirer")]),
            Route("rent", operations=frozenset({Operation.PAYOUT}),
                  candidates=[RouteCandidate("payout_bank")]),
        ],
    )  # fmt: skip

    assert router.candidates("rent", "CNY", Operation.REFUND) == ["acquirer"]
    assert router.candidates("rent", "CNY", Operation.PAYOUT) == ["payout_bank"]


@pytest.mark.parametrize(
    ("draw", "first"),
    # Weights 1 and 1: a draw of u points at 2u; "a" covers [0, 1) and "b" covers [1, 2).
    [(0.0, "a"), (0.499, "a"), (0.5, "b"), (0.999, "b")],
)
def test_each_candidate_takes_the_draws_of_its_own_half_open_share(draw: float, first: str) -> None:
    rng = ScriptedRandom(draw)

    assert order_of(rng, {"a": 1, "b": 1}) == [first, "b" if first == "a" else "a"]


def test_a_share_boundary_inside_a_longer_list_belongs_to_the_next_candidate() -> None:
    # Weights 1, 1, 2 (total 4): a covers [0, 1), b [1, 2), c [2, 4). 0.5 points at 2: c.
    # Then a and b are left (total 2): 0.5 points at exactly 1, the start of b.
    rng = ScriptedRandom(0.5, 0.5)

    assert order_of(rng, {"a": 1, "b": 1, "c": 2}) == ["c", "b", "a"]


def test_a_draw_at_the_very_top_of_the_range_takes_the_last_candidate() -> None:
    # Float rounding can leave the point at the total, past every share: the last takes it.
    rng = ScriptedRandom(1.0, 0.0)

    assert order_of(rng, {"a": 1, "b": 1, "c": 1}) == ["c", "a", "b"]


def test_the_last_candidate_of_a_level_costs_no_draw() -> None:
    # Level 1: 0.0 picks "a", and "b" follows without a draw; so level 2 gets the second
    # draw, 0.99, which points at 1.98 of 2: "d" before "c".
    rng = ScriptedRandom(0.0, 0.99)

    assert order_of(rng, {"a": 1, "b": 1}, {"c": 1, "d": 1}) == ["a", "b", "d", "c"]
    assert rng.drawn == 2


def test_a_lone_candidate_needs_no_draw_at_all() -> None:
    rng = ScriptedRandom()

    assert order_of(rng, {"only": 5}, {"backup": 1}) == ["only", "backup"]
    assert rng.drawn == 0


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda: Route("rent", "cny", [RouteCandidate("bank")]),
         "route 'rent': currency must be three capital letters"),
        (lambda: Route("rent", candidates=[RouteCandidate("bank")], operations=frozenset()),
         "route 'rent': operations, when given, must not be empty"),
        (lambda: Route("rent", candidates=[]),
         "route 'rent': needs at least one candidate channel"),
    ],
)  # fmt: skip
def test_a_refused_route_is_named_by_its_product(make: Callable[[], object], detail: str) -> None:
    # Several routes sit in one configuration file: the detail says which one to fix.
    with pytest.raises(Rejected) as refused:
        make()
    assert refused.value.detail == detail
