"""Which channels to try, in which order, for one operation.

A `Route` names the candidate channels for a product (`"*"`: any product), optionally
only for one currency and some operations. The most specific matching route wins:
product before currency before operations. Candidates with the lowest `priority` number
come first; within one priority the order is random, weighted by `weight`. Channels whose
breaker is not closed are left out; when none is left the list is empty and the order fails
with the channel-class failure `no_channel_available` (waiting for a broken channel would
only turn a fast failure into a hanging one).

The caller walks the list: ChannelUnavailable moves on to the next candidate (the channel
certainly did not process it); ChannelTimeout stops there (the result is unknown and
another channel could pay twice), and the order is queried back later.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from paycore.channels.model import Operation
from paycore.channels.registry import ChannelRegistry
from paycore.errors import Rejected

ANY_PRODUCT = "*"
NO_CHANNEL_AVAILABLE = "no_channel_available"
"""The failure code (class CHANNEL) of an order none of whose candidates takes traffic."""

PRODUCT_LENGTH_MAX = 64
_CURRENCY = re.compile(r"[A-Z]{3}")


def _invalid(detail: str) -> Rejected:
    return Rejected("invalid_channel_config", detail)


@dataclass(frozen=True, slots=True)
class RouteCandidate:
    channel: str
    priority: int = 1
    """1 is tried first, then 2, ..."""
    weight: int = 100
    """Relative share of first attempts among candidates of the same priority; >= 1."""

    def __post_init__(self) -> None:
        if not self.channel:
            raise _invalid("a candidate names no channel")
        if isinstance(self.priority, bool) or not 0 <= self.priority <= 1000:
            raise _invalid(f"{self.channel}: priority must be an integer from 0 to 1000")
        if isinstance(self.weight, bool) or not 1 <= self.weight <= 1_000_000:
            raise _invalid(f"{self.channel}: weight must be an integer from 1 to 1000000")


@dataclass(frozen=True, slots=True)
class Route:
    product: str
    currency: str | None = None
    candidates: Sequence[RouteCandidate] = ()
    operations: frozenset[Operation] | None = None
    """None: every operation."""
    levels: tuple[tuple[RouteCandidate, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"route {self.product!r}"
        if not 0 < len(self.product) <= PRODUCT_LENGTH_MAX:
            raise _invalid(f"a route's product is 1 to {PRODUCT_LENGTH_MAX} characters")
        if self.currency is not None and not _CURRENCY.fullmatch(self.currency):
            raise _invalid(f"{where}: currency must be three capital letters")
        if self.operations is not None and not self.operations:
            raise _invalid(f"{where}: operations, when given, must not be empty")
        candidates = tuple(self.candidates)
        if not candidates:
            raise _invalid(f"{where}: needs at least one candidate channel")
        names = [c.channel for c in candidates]
        if len(set(names)) != len(names):
            raise _invalid(f"{where}: a channel appears twice among its candidates")
        ordered = sorted(candidates, key=lambda c: c.priority)
        levels = tuple(tuple(level) for _, level in groupby(ordered, key=lambda c: c.priority))
        object.__setattr__(self, "candidates", candidates)
        object.__setattr__(self, "levels", levels)

    def serves(self, operation: Operation) -> bool:
        return self.operations is None or operation in self.operations


class Router:
    """Thread-safe: routes are fixed at construction, and the rng is only drawn from."""

    def __init__(
        self,
        registry: ChannelRegistry,
        routes: Iterable[Route],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._registry = registry
        self._rng = rng or random.Random()
        self.routes = tuple(routes)
        self._by_key = index_routes(self.routes, registry.names())

    def route_for(self, product: str, currency: str, operation: Operation) -> Route:
        """The most specific route; Rejected `no_route` when none matches."""
        keys = ((product, currency), (product, None), (ANY_PRODUCT, currency), (ANY_PRODUCT, None))
        for key in keys:
            for route in self._by_key.get(key, ()):
                if route.serves(operation):
                    return route
        raise Rejected(
            "no_route", f"no channel route for product {product!r}, {currency} {operation}"
        )

    def candidates(self, product: str, currency: str, operation: Operation) -> list[str]:
        """Channel names to try in order; empty when every candidate's breaker is open."""
        ordered: list[str] = []
        for level in self.route_for(product, currency, operation).levels:
            open_now = [c for c in level if self._registry.allows_traffic(c.channel)]
            ordered.extend(self._weighted_order(open_now))
        return ordered

    def _weighted_order(self, level: list[RouteCandidate]) -> list[str]:
        """Draw without replacement, each draw weighted by the candidates still left."""
        order: list[str] = []
        left = list(level)
        while len(left) > 1:
            point = self._rng.random() * sum(c.weight for c in left)
            index = len(left) - 1
            for i, candidate in enumerate(left):
                point -= candidate.weight
                if point < 0:
                    index = i
                    break
            order.append(left.pop(index).channel)
        order.extend(c.channel for c in left)
        return order


def index_routes(
    routes: Iterable[Route], channels: Iterable[str]
) -> dict[tuple[str, str | None], list[Route]]:
    """Routes by (product, currency), explicit operations first; Rejected when a route names
    an unknown channel or two routes cover the same product, currency and operation (a
    route for some operations may sit beside one for every operation: it is more specific)."""
    known = set(channels)
    by_key: dict[tuple[str, str | None], list[Route]] = {}
    for route in routes:
        for candidate in route.candidates:
            if candidate.channel not in known:
                raise _invalid(
                    f"route {route.product!r} names unknown channel {candidate.channel!r}"
                )
        same_key = by_key.setdefault((route.product, route.currency), [])
        if any(_overlap(route, other) for other in same_key):
            raise _invalid(
                f"two routes for product {route.product!r}, currency "
                f"{route.currency or 'any'} cover the same operation"
            )
        same_key.append(route)
    for same_key in by_key.values():
        same_key.sort(key=lambda r: r.operations is None)
    return by_key


def _overlap(one: Route, other: Route) -> bool:
    """Whether neither route is more specific than the other for some operation."""
    if one.operations is None or other.operations is None:
        return one.operations is other.operations
    return bool(one.operations & other.operations)
