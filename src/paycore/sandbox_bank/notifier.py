"""The bank's callbacks: signed, delayed, sometimes duplicated or reordered, retried.

Deliveries go through `CallbackClient` (h11 keep-alive; see its docstring for why not
httpx). A notification is the bank's final word on one transaction's status. Its id
(`ntf_<bank txn no>_<status>`) is repeated by every duplicate and retry, so receivers can
dedupe. Deliveries wait on a heap keyed by the event loop's monotonic time; at most
`DELIVERIES_IN_FLIGHT_MAX` are sent at once. A delivery that does not get a 2xx is retried
with doubling back-off (FaultMix.notify_retry_base_s up to notify_retry_max_s), at most
FaultMix.notify_attempts_max times in all; then it is given up and logged. Pending
deliveries live in memory only: a bank restart forgets them (the merchant queries back).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from paycore.channels.signing import CALLBACK_VERB, sign
from paycore.clock import Clock
from paycore.sandbox_bank.callback_client import CallbackClient, CallbackFailed
from paycore.sandbox_bank.config import FaultMix
from paycore.sandbox_bank.model import Decider, Txn

log = logging.getLogger(__name__)


DELIVERIES_IN_FLIGHT_MAX = 32
"""Enough for thousands of callbacks a second to a receiver answering in a few ms."""
DELIVERY_LOG_MAX = 10_000
"""Recent delivery attempts kept for GET /admin/notifications."""
NOTIFY_TICK_MAX_S = 0.25


def notification_id(txn: Txn) -> str:
    return f"ntf_{txn.bank_txn_no}_{txn.status.value}"


def notification_body(txn: Txn) -> bytes:
    payload = {"notification_id": notification_id(txn), **txn.view()}
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Delivery:
    notification_id: str
    url: str
    body: bytes
    attempt: int = 1


class Notifier:
    """Owns the pending deliveries and the HTTP client that sends them."""

    def __init__(
        self,
        *,
        private_key: Ed25519PrivateKey,
        key_id: str,
        faults: Callable[[], FaultMix],
        decider: Decider,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._private_key = private_key
        self._key_id = key_id
        self._faults = faults
        self._decider = decider
        self._heap: list[tuple[float, int, Delivery]] = []
        self._sequence = itertools.count()
        self._wake: asyncio.Event | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(DELIVERIES_IN_FLIGHT_MAX)
        self._client: CallbackClient | None = None
        self.log: deque[dict[str, Any]] = deque(maxlen=DELIVERY_LOG_MAX)

    # -- scheduling (on the event loop's thread) ---------------------------------------------

    def notify(self, txn: Txn) -> None:
        """Schedule the notification of `txn`'s current status to its notify_url."""
        if not txn.notify_url:
            return
        mix = self._faults()
        delay = mix.notify_delay_s
        if self._decider.chance(mix.reorder_rate):
            delay += mix.reorder_delay_s
        delivery = Delivery(notification_id(txn), txn.notify_url, notification_body(txn))
        self._push(delay, delivery)
        if self._decider.chance(mix.duplicate_rate):
            self._push(delay + self._decider.uniform(0.0, mix.reorder_delay_s), delivery)

    def pending_count(self) -> int:
        return len(self._heap) + len(self._in_flight)

    def _push(self, delay_s: float, delivery: Delivery) -> None:
        due = asyncio.get_running_loop().time() + delay_s
        if not self._heap or due < self._heap[0][0]:
            self._wake_up()
        heapq.heappush(self._heap, (due, next(self._sequence), delivery))

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Send deliveries as they fall due, until cancelled."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._client = CallbackClient(
            timeout_s=self._faults().notify_timeout_s,
            idle_per_origin_max=DELIVERIES_IN_FLIGHT_MAX,
        )
        while True:
            now = loop.time()
            while self._heap and self._heap[0][0] <= now:
                _, _, delivery = heapq.heappop(self._heap)
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver(delivery))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            wait_s = min(self._heap[0][0] - now, NOTIFY_TICK_MAX_S) if self._heap else 1.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait_s)

    async def aclose(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            outcome = await self._post(delivery)
        finally:
            self._slots.release()
        self.log.append(
            {
                "notification_id": delivery.notification_id,
                "url": delivery.url,
                "attempt": delivery.attempt,
                "outcome": outcome,
                "at": self._clock.now().isoformat(),
            }
        )
        if outcome == "delivered":
            return
        mix = self._faults()
        if delivery.attempt >= mix.notify_attempts_max:
            log.warning(
                "notification given up",
                extra={"notification_id": delivery.notification_id, "outcome": outcome},
            )
            return
        backoff = min(mix.notify_retry_base_s * 2 ** (delivery.attempt - 1), mix.notify_retry_max_s)
        self._push(backoff, dataclasses.replace(delivery, attempt=delivery.attempt + 1))

    async def _post(self, delivery: Delivery) -> str:
        if self._client is None:
            return "not_running"
        headers = sign(
            self._private_key,
            key_id=self._key_id,
            verb=CALLBACK_VERB,
            path="",
            body=delivery.body,
        )
        headers["Content-Type"] = "application/json"
        self._client.timeout_s = self._faults().notify_timeout_s
        try:
            status = await self._client.post(delivery.url, delivery.body, headers)
        except CallbackFailed as exc:
            return f"error: {exc}"
        return "delivered" if 200 <= status < 300 else f"http {status}"
