"""The webhook relay: claims due deliveries from the outbox, sends them, records the outcome.

Never a transaction around the network:

1. claim: a short transaction leases due deliveries (SKIP LOCKED on PostgreSQL, BEGIN
   IMMEDIATE on SQLite), so relays in any number of threads or processes take disjoint ones;
2. send: HTTP POSTs on a thread pool, outside any transaction, each with timeouts
   (pooled keep-alive connections, see `senders`);
3. record: a short transaction logs every attempt and settles each delivery whose lease
   still holds. `run` records what finished and claims more in one transaction.

A relay that dies between 2 and 3 leaves its leases to run out; the deliveries are then
claimed again and sent again with the same event id: delivery is at least once, and
receivers dedupe by `Paycore-Event-Id`.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from paycore import __version__, ids
from paycore.clock import Clock, SystemClock
from paycore.notifications import store
from paycore.notifications.model import (
    EVENT_ID_HEADER,
    RELAY_BATCH_MAX,
    SIGNATURE_HEADER,
    URL_LENGTH_MAX,
    Attempt,
    Delivery,
    Endpoint,
    RetryPolicy,
    body_of,
    settled,
    short_error,
    sign,
    skipped,
)
from paycore.notifications.senders import make_sender
from paycore.notifications.store import Claim
from paycore.platform.db import WRITER
from paycore.security.crypto import FieldCipher

log = logging.getLogger(__name__)

EndpointLookup = Callable[[str], Endpoint | None]
"""merchant id -> where its webhooks go, or None when it has none (the event is skipped)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    claim: Claim
    attempt: Attempt | None
    """None when nothing was sent (the merchant has no endpoint)."""


class WebhookRelay:
    """Delivers the outbox. Run one or several per process, in as many processes as you like.

    A delivery whose lease (`lease_s`) runs out before its outcome is recorded is claimed
    again, which costs a duplicate the receiver dedupes. So `run` keeps no more sends in
    flight than `concurrency` senders can finish within a lease even if every receiver
    hangs until `timeout_s`. Endpoints are looked up at most every `endpoint_cache_s` per
    merchant: a changed URL or rotated secret is used within that time.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        endpoints: EndpointLookup,
        cipher: FieldCipher,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        batch_size: int = 100,
        lease_s: float = 60.0,
        timeout_s: float = 10.0,
        concurrency: int = 16,
        endpoint_cache_s: float = 5.0,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not 1 <= batch_size <= RELAY_BATCH_MAX:
            raise ValueError(f"batch_size must be 1 to {RELAY_BATCH_MAX}")
        if lease_s <= 2 * timeout_s:
            raise ValueError("lease_s must exceed twice timeout_s: a send may queue for one")
        self._engine = engine
        self._endpoints = endpoints
        self._cipher = cipher  # opens the payloads of the events it sends
        self._clock = clock or SystemClock()
        self._batch_size = batch_size
        self._lease_s = lease_s
        self._concurrency = max(1, concurrency)
        rounds = int(lease_s // timeout_s) - 1  # rounds of sends that fit in one lease
        self._in_flight_max = max(self._concurrency, min(batch_size, rounds * self._concurrency))
        self._endpoint_cache_s = endpoint_cache_s
        self._endpoint_cache: dict[str, tuple[float, Endpoint | None]] = {}
        self._policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._sender = make_sender(
            timeout_s=timeout_s,
            connections=self._concurrency,
            user_agent=f"paycore-webhooks/{__version__}",
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="webhook-send")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._sender.close()

    def __enter__(self) -> WebhookRelay:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the three steps ------------------------------------------------------------------

    def claim(self, limit: int | None = None) -> list[Claim]:
        """Lease up to `limit` (default batch_size) due deliveries for this relay."""
        return self._settle_and_claim([], limit or self._batch_size)[1]

    def send(self, claim: Claim, endpoint: Endpoint) -> Outcome:
        """POST the event, signed; never raises for what the receiver or network does."""
        event = claim.event
        body = body_of(event)
        started_at = self._clock.now()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(
                endpoint.secret, timestamp=int(started_at.timestamp()), body=body
            ),
            EVENT_ID_HEADER: event.id,
            "Paycore-Event-Type": event.type,
        }
        status_code: int | None = None
        error: str | None = None
        start = time.perf_counter()
        try:
            status_code = self._sender.post(endpoint.url, body, headers)
            if not 200 <= status_code < 300:
                error = f"http_{status_code}"
        except Exception as exc:  # the receiver's side: any failure is a failed attempt
            error = short_error(f"{type(exc).__name__}: {exc}")
        duration_ms = round((time.perf_counter() - start) * 1000)
        if error is not None:
            log.info(
                "webhook attempt failed",
                extra={"event_id": event.id, "merchant_id": event.merchant_id, "error": error},
            )
        return Outcome(claim, self._attempt(claim, started_at, endpoint.url, status_code, error,
                                            duration_ms))  # fmt: skip

    def record(self, outcomes: Sequence[Outcome]) -> int:
        """Log the attempts and settle the deliveries; returns how many were settled."""
        return self._settle_and_claim(outcomes, 0)[0]

    def _settle_and_claim(self, outcomes: Sequence[Outcome], limit: int) -> tuple[int, list[Claim]]:
        """One transaction: record `outcomes`, then lease up to `limit` more deliveries."""
        if not outcomes and limit == 0:
            return 0, []
        now = self._clock.now()
        rows = [(o.claim, o.attempt, self._next_state(o, now)) for o in outcomes]
        written, claims = 0, list[Claim]()
        without_endpoint = self._merchants_without_endpoint() if limit else []
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if rows:
                written = store.settle(conn, rows)
            if without_endpoint:
                store.skip_due(conn, now=now, merchant_ids=without_endpoint)
            if limit:
                claims = self._claim_in(conn, now, limit)
        if written < len(rows):
            log.info("webhook claims lost to an expired lease", extra={"lost": len(rows) - written})
        return written, claims

    def _claim_in(self, conn: Connection, now: datetime, limit: int) -> list[Claim]:
        leased_until = now + timedelta(seconds=self._lease_s)
        return store.claim_due(conn, self._cipher, now=now, leased_until=leased_until, limit=limit)

    def _next_state(self, outcome: Outcome, now: datetime) -> Delivery:
        if outcome.attempt is None:
            return skipped(outcome.claim.delivery)
        u = self._rng.random()
        return settled(outcome.claim.delivery, outcome.attempt, now=now, policy=self._policy, u=u)

    # -- running ------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch, send it all in parallel, record it. Returns how many were claimed."""
        claims = self.claim()
        futures, outcomes = self._dispatch(claims)
        outcomes.extend(f.result() for f in futures)
        self.record(outcomes)
        return len(claims)

    def run(self, stop: threading.Event, interval_s: float = 0.5) -> None:
        """Deliver until `stop` is set, then finish what is in flight and return.

        Whenever half the in-flight allowance is free it records what finished and claims
        more in one transaction, so one slow receiver holds one sender, not a batch. Sleeps
        `interval_s` only when nothing was due. Database errors are logged and retried; the
        leases make a lost claim or record safe.
        """
        # Sends report on a queue as they finish: waiting on the set of futures instead
        # registers a waiter with every one of them on every wake-up (quadratic in the batch).
        completed: queue.SimpleQueue[Future[Outcome]] = queue.SimpleQueue()
        in_flight = 0
        finished: list[Outcome] = []
        drained = False
        while True:
            try:
                if in_flight <= self._in_flight_max // 2 or stop.is_set():
                    room = 0 if stop.is_set() else self._in_flight_max - in_flight
                    _, claims = self._settle_and_claim(finished, room)
                    finished = []
                    drained = len(claims) < room
                    futures, ready = self._dispatch(claims)
                    for future in futures:
                        future.add_done_callback(completed.put)
                    in_flight += len(futures)
                    finished.extend(ready)
                if in_flight:
                    done = _take_completed(completed, timeout_s=interval_s)
                    in_flight -= len(done)
                    finished.extend(f.result() for f in done)
            except Exception:
                if stop.is_set() and not in_flight:
                    log.exception("webhook relay stopping with unrecorded attempts")
                    return
                log.exception("webhook relay step failed; retrying")
                stop.wait(interval_s)
                continue
            if not in_flight and not finished:
                if stop.is_set():
                    return
                if drained:
                    stop.wait(interval_s)

    def _dispatch(self, claims: Sequence[Claim]) -> tuple[list[Future[Outcome]], list[Outcome]]:
        """Start a send for each claim; merchants without an endpoint are settled at once."""
        futures: list[Future[Outcome]] = []
        ready: list[Outcome] = []
        for claim in claims:
            try:
                endpoint = self._endpoint(claim.event.merchant_id)
            except Exception as exc:  # counts as a failed attempt, retried later
                ready.append(self._lookup_failed(claim, exc))
                continue
            if endpoint is None or not endpoint.url:
                ready.append(Outcome(claim, None))
            else:
                futures.append(self._pool.submit(self.send, claim, endpoint))
        return futures, ready

    def _endpoint(self, merchant_id: str) -> Endpoint | None:
        now = time.monotonic()
        cached = self._endpoint_cache.get(merchant_id)
        if cached is not None and now - cached[0] < self._endpoint_cache_s:
            return cached[1]
        endpoint = self._endpoints(merchant_id)
        if len(self._endpoint_cache) >= ENDPOINT_CACHE_ENTRIES_MAX:
            self._endpoint_cache.clear()
        self._endpoint_cache[merchant_id] = (now, endpoint)
        return endpoint

    def _merchants_without_endpoint(self) -> list[str]:
        """Merchants whose lookup (at most `endpoint_cache_s` old) found no webhook URL:
        their due deliveries are skipped in SQL, not claimed, fetched and settled one by
        one. Once the lookup is older, the next claim looks again."""
        now = time.monotonic()
        found = [
            merchant_id
            for merchant_id, (looked_up, endpoint) in list(self._endpoint_cache.items())
            if now - looked_up < self._endpoint_cache_s and (endpoint is None or not endpoint.url)
        ]
        return found[:SKIPPED_MERCHANTS_MAX]

    def _lookup_failed(self, claim: Claim, exc: Exception) -> Outcome:
        log.warning(
            "webhook endpoint lookup failed",
            extra={"event_id": claim.event.id, "merchant_id": claim.event.merchant_id},
        )
        error = short_error(f"endpoint_lookup_failed: {type(exc).__name__}")
        return Outcome(claim, self._attempt(claim, self._clock.now(), "", None, error, 0))

    def _attempt(
        self,
        claim: Claim,
        attempted_at: datetime,
        url: str,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
    ) -> Attempt:
        return Attempt(
            id=ids.new_id("natt"),
            event_id=claim.event.id,
            attempted_at=attempted_at,
            url=url[:URL_LENGTH_MAX],
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )


ENDPOINT_CACHE_ENTRIES_MAX = 10_000
SKIPPED_MERCHANTS_MAX = 500
"""Merchants without a URL skipped in SQL per claim (bound on the statement's IN list)."""


def _take_completed(
    completed: queue.SimpleQueue[Future[Outcome]], *, timeout_s: float
) -> list[Future[Outcome]]:
    """The sends that finished: waits up to `timeout_s` for the first, takes the rest."""
    try:
        done = [completed.get(timeout=timeout_s)]
    except queue.Empty:
        return []
    while True:
        try:
            done.append(completed.get_nowait())
        except queue.Empty:
            return done


def start_relay(
    engine: Engine,
    *,
    endpoints: EndpointLookup,
    cipher: FieldCipher,
    stop: threading.Event,
    interval_s: float = 0.5,
    **options: Any,
) -> threading.Thread:
    """Run a WebhookRelay in a daemon thread until `stop` is set; join the thread to wait.

    `options` go to WebhookRelay (clock, transport, batch_size, lease_s, timeout_s, ...).
    """
    relay = WebhookRelay(engine, endpoints=endpoints, cipher=cipher, **options)

    def main() -> None:
        with relay:
            relay.run(stop, interval_s)

    thread = threading.Thread(target=main, name="webhook-relay", daemon=True)
    thread.start()
    return thread
