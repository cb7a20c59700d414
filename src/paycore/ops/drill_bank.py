"""An in-process bank for the drills: a `Channel` that pays at once, keeps its own record of
what it paid, and can hang the way the sandbox bank's `hang` fault does (a node that stalls
3-10 s), without a process or a network between it and paycore.

While hanging, every pay-in it receives is processed (the bank books it) but the answer
does not come back until `release()`: then the caller's read times out (ChannelTimeout,
result unknown) and paycore must query back, as with a real hung bank. A probe fails at
once while it hangs, so the breaker stays open until the hang ends. Its `paid` record is
the bank's side of "nothing lost, nothing paid twice".
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import date

from paycore.channels.model import (
    BadNotification,
    ChannelResult,
    ChannelStatus,
    ChannelTimeout,
    Notification,
    Operation,
    PayinRequest,
    PayoutRequest,
    RefundRequest,
)

HANG_RELEASE_WAIT_S = 30.0
"""A hung call gives up after this even if nobody releases it (a drill that crashed)."""

_txn_numbers = itertools.count(1)


class DrillBank:
    """A bank that pays every pay-in it receives; thread-safe."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self._truth: dict[str, ChannelResult] = {}
        self.received: Counter[str] = Counter()
        """How many times each reference reached the bank (a failover sends it once here)."""
        self.hung = 0
        """Calls stalled right now."""

    # -- faults ----------------------------------------------------------------------------

    def hang(self) -> None:
        """From now on every call stalls until `release()` (the bank still books it)."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    @property
    def hanging(self) -> bool:
        return not self._released.is_set()

    def paid(self) -> set[str]:
        """The references of every pay-in this bank booked as paid."""
        with self._lock:
            return {ref for ref, r in self._truth.items() if r.status is ChannelStatus.SUCCEEDED}

    # -- the Channel protocol --------------------------------------------------------------

    def pay_in(self, request: PayinRequest) -> ChannelResult:
        with self._lock:
            self.received[request.reference] += 1
            result = self._truth.get(request.reference)
            if result is None:  # the reference is the idempotency key: never paid twice
                txn = f"{self.name}-{next(_txn_numbers)}"
                result = ChannelResult(ChannelStatus.SUCCEEDED, channel_txn_id=txn)
                self._truth[request.reference] = result
        self._stall()
        return result

    def pay_out(self, request: PayoutRequest) -> ChannelResult:
        raise ChannelTimeout(self.name, "the drill bank makes no payouts")

    def refund(self, request: RefundRequest) -> ChannelResult:
        raise ChannelTimeout(self.name, "the drill bank makes no refunds")

    def query(self, operation: Operation, reference: str) -> ChannelResult:
        if self.hanging:
            raise ChannelTimeout(self.name, "the bank does not answer (hung)")
        with self._lock:
            return self._truth.get(reference, ChannelResult(ChannelStatus.NOT_FOUND))

    def close(self, reference: str) -> ChannelResult:
        with self._lock:
            known = self._truth.get(reference)
            if known is not None:
                return known
            closed = ChannelResult(ChannelStatus.CLOSED)
            self._truth[reference] = closed
            return closed

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        raise BadNotification(self.name, "bad_signature", "the drill bank sends no callbacks")

    def fetch_statement(self, day: date) -> bytes:
        return b""

    def probe(self) -> None:
        if self.hanging:
            raise ChannelTimeout(self.name, "the bank does not answer (hung)")

    def _stall(self) -> None:
        if self._released.is_set():
            return
        with self._lock:
            self.hung += 1
        try:
            self._released.wait(HANG_RELEASE_WAIT_S)
        finally:
            with self._lock:
                self.hung -= 1
        raise ChannelTimeout(self.name, "read timed out while the bank hung")
