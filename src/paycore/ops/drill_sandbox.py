"""The sandbox a drill runs in: a Runtime on the configured database whose channels are two
in-process banks (`alpha` first, `beta` as failover, for every product), on the drill's
ManualClock, so the breaker, the janitor and every detector read the same time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Route, RouteCandidate, Router
from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.ops.drill_bank import DrillBank
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher

QUERY_SCHEDULE_S = (60, 300)
"""When the janitor asks a bank about an order whose answer was lost (a hang)."""
ROUTER_SEED = 7


@dataclass(frozen=True, slots=True)
class Sandbox:
    runtime: Runtime
    clock: ManualClock
    alpha: DrillBank
    beta: DrillBank

    @property
    def banks(self) -> tuple[DrillBank, DrillBank]:
        return (self.alpha, self.beta)


@contextmanager
def sandbox(
    settings: Settings,
    clock: ManualClock,
    *,
    engine: Engine | None = None,
    ledger: Ledger | None = None,
    cipher: FieldCipher | None = None,
) -> Iterator[Sandbox]:
    """A Runtime with the two drill banks; closed on exit. No background worker starts:
    the drill does their work itself, between ticks, on its clock."""
    alpha, beta = DrillBank("alpha"), DrillBank("beta")
    registry = ChannelRegistry(clock=clock)
    for bank in (alpha, beta):
        registry.add(bank)
    route = Route(
        product="*",
        candidates=[RouteCandidate("alpha", priority=1), RouteCandidate("beta", priority=2)],
    )
    router = Router(registry, [route], rng=random.Random(ROUTER_SEED))
    runtime = Runtime.build(
        settings,
        engine=engine,
        clock=clock,
        ledger=ledger,
        channels=Channels(registry, router),
        cipher=cipher,
        query_schedule_s=QUERY_SCHEDULE_S,
    )
    try:
        yield Sandbox(runtime, clock, alpha, beta)
    finally:
        alpha.release()  # a hung call must not outlive the drill
        beta.release()
        runtime.close()
