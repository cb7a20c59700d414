"""The channels of this process by name, each with its health, and the prober that restores them.

Every call to a channel goes through `ChannelRegistry.call`, which refuses it while the
breaker is open (ChannelUnavailable: nothing was sent, failing over is safe), times it and
records whether the channel worked. A declined payment (FAILED with failure class USER or
MERCHANT) is the channel working; an exception or a FAILED result of class CHANNEL, SYSTEM
or none is a channel failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

from paycore.channels.health import BreakerPolicy, ChannelHealth, HealthSnapshot, Monotonic
from paycore.channels.model import (
    Channel,
    ChannelResult,
    ChannelStatus,
    ChannelUnavailable,
    FailureClass,
)
from paycore.clock import Clock
from paycore.errors import Rejected

log = logging.getLogger(__name__)

R = TypeVar("R")

PROBE_TICK_S = 0.25
"""How often the prober looks for half-open channels whose probe is due."""

PROBE_THREADS_MAX = 8
"""Probes run in parallel so one hanging channel's probe does not delay the others'."""

_CALLER_CAUSED = frozenset({FailureClass.USER, FailureClass.MERCHANT})


def channel_worked(result: object) -> bool:
    """Whether a call that returned `result` counts as a success for the channel's health."""
    if isinstance(result, ChannelResult) and result.status is ChannelStatus.FAILED:
        return result.failure_class in _CALLER_CAUSED
    return True


class ChannelRegistry:
    """Channels by name in the order they were added. Thread-safe once filled."""

    def __init__(self, *, clock: Clock | None = None, monotonic: Monotonic | None = None) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._channels: dict[str, Channel] = {}
        self._healths: dict[str, ChannelHealth] = {}

    def add(self, channel: Channel, *, policy: BreakerPolicy | None = None) -> ChannelHealth:
        if channel.name in self._channels:
            raise Rejected("invalid_channel_config", f"channel {channel.name!r} added twice")
        health = ChannelHealth(
            channel.name, policy=policy, clock=self._clock, monotonic=self._monotonic
        )
        self._channels[channel.name] = channel
        self._healths[channel.name] = health
        return health

    def names(self) -> list[str]:
        return list(self._channels)

    def get(self, name: str) -> Channel:
        try:
            return self._channels[name]
        except KeyError:
            raise Rejected("channel_not_found", f"no channel named {name!r}") from None

    def health(self, name: str) -> ChannelHealth:
        self.get(name)
        return self._healths[name]

    def allows_traffic(self, name: str) -> bool:
        return self.health(name).allows_traffic()

    def snapshots(self) -> list[HealthSnapshot]:
        return [health.snapshot() for health in self._healths.values()]

    def call(self, name: str, fn: Callable[[Channel], R], *, check_breaker: bool = True) -> R:
        """`fn(channel)`, timed and recorded into the channel's health.

        Raises ChannelUnavailable without calling while the breaker is not closed, unless
        `check_breaker` is False (a query-back or statement fetch that must be tried anyway).
        Whatever `fn` raises propagates unchanged after being counted as a failure.
        """
        channel = self.get(name)
        health = self._healths[name]
        if check_breaker and not health.allows_traffic():
            raise ChannelUnavailable(name, "circuit open: channel taken out of traffic")
        token = health.start()
        ok = False
        try:
            result = fn(channel)
            ok = channel_worked(result)
            return result
        finally:
            health.finish(token, ok=ok)

    def probe(self, name: str) -> bool | None:
        """Probe the channel if its probe is due: True/False for its outcome, None if not due."""
        health = self.health(name)
        if not health.begin_probe():
            return None
        ok = False
        try:
            self._channels[name].probe()
            ok = True
        except Exception as error:
            log.info("channel probe failed", extra={"channel": name, "error": repr(error)})
        finally:
            health.end_probe(ok=ok)
        return ok

    def run_due_probes(self) -> dict[str, bool]:
        """Probe every channel whose probe is due, one after the other, in this thread."""
        outcomes = {name: self.probe(name) for name in self.names()}
        return {name: ok for name, ok in outcomes.items() if ok is not None}


class HealthProber:
    """A daemon thread that probes half-open channels, each in its own pool thread."""

    def __init__(self, registry: ChannelRegistry, *, tick_s: float = PROBE_TICK_S) -> None:
        self._registry = registry
        self._tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._pool = ThreadPoolExecutor(PROBE_THREADS_MAX, thread_name_prefix="channel-probe")
        self._thread = threading.Thread(target=self._run, name="channel-prober", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._thread = self._pool = None

    def __enter__(self) -> HealthProber:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            for name in self._registry.names():
                if self._registry.health(name).probe_due() and self._pool is not None:
                    self._pool.submit(self._registry.probe, name)
