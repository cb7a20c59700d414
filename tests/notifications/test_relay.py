"""The relay: signed webhooks after commit, retries with back-off, at least once, never twice
at the same time."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.notifications.model import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    DeliveryStatus,
    RetryPolicy,
    WebhookEndpoint,
    verify_signature,
)
from paycore.notifications.relay import WebhookRelay, start_relay
from paycore.notifications.service import Notifications
from paycore.platform.db import make_engine
from paycore.security.crypto import FieldCipher
from tests.notifications.conftest import SECRET, URL, Receiver, one_endpoint

Emit = Callable[..., list[str]]
MakeRelay = Callable[..., WebhookRelay]


def status_of(notifications: Notifications, event_id: str) -> DeliveryStatus:
    return notifications.get_event(event_id, merchant_id=None).delivery.status


# -- a real receiver on 127.0.0.1 ------------------------------------------------------------


class LocalReceiver(ThreadingHTTPServer):
    """A merchant's webhook endpoint: checks the signature, answers 200, or sleeps on /slow."""

    daemon_threads = True

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.clock = clock
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: LocalReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/slow":
            time.sleep(1.0)
        try:
            verify_signature(
                SECRET, self.headers[SIGNATURE_HEADER], body, now=self.server.clock.now()
            )
        except Exception:
            self.server.refused += 1
            self.send_response(400)
        else:
            self.server.received.append((self.headers[EVENT_ID_HEADER], json.loads(body)))
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_receiver(clock: ManualClock) -> Iterator[LocalReceiver]:
    server = LocalReceiver(clock)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_committed_event_is_delivered_signed_to_a_real_receiver_and_marked_delivered(
    emit: Emit, make_relay: MakeRelay, local_receiver: LocalReceiver, clock: ManualClock,
    notifications: Notifications,
) -> None:  # fmt: skip
    [event_id] = emit(1)
    relay = make_relay(
        transport=None, endpoints=lambda _m: WebhookEndpoint(local_receiver.url + "/hooks", SECRET)
    )

    assert relay.run_once() == 1

    [(received_id, body)] = local_receiver.received
    assert received_id == event_id
    assert body == {
        "id": event_id, "type": "payin.succeeded", "created_at": "2026-01-01T00:00:00Z",
        "data": {"order_id": "pay_0", "amount": 100, "currency": "CNY"},
    }  # fmt: skip
    detail = notifications.get_event(event_id, merchant_id=None)
    assert detail.delivery.status is DeliveryStatus.DELIVERED
    assert detail.delivery.delivered_at == clock.now()
    [attempt] = detail.attempts
    assert (attempt.status_code, attempt.error) == (204, None)
    assert attempt.url == local_receiver.url + "/hooks"
    assert relay.run_once() == 0


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(
    emit: Emit, make_relay: MakeRelay, local_receiver: LocalReceiver, notifications: Notifications
) -> None:
    [event_id] = emit(1)
    relay = make_relay(
        transport=None,
        timeout_s=0.2,
        endpoints=lambda _m: WebhookEndpoint(local_receiver.url + "/slow", SECRET),
    )

    started = time.perf_counter()
    relay.run_once()

    assert time.perf_counter() - started < 0.9
    detail = notifications.get_event(event_id, merchant_id=None)
    assert detail.delivery.status is DeliveryStatus.PENDING
    assert detail.attempts[0].error is not None
    assert detail.attempts[0].error.startswith("ReadTimeout")


# -- retries ------------------------------------------------------------------------------------


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt_after_backoff(
    emit: Emit, relay: WebhookRelay, receiver: Receiver, clock: ManualClock,
    notifications: Notifications,
) -> None:  # fmt: skip
    [event_id] = emit(1)
    receiver.answers = [500, 503, httpx.ConnectError("refused")]

    assert relay.run_once() == 1
    for wait_s in (5, 30, 120):
        clock.advance(wait_s - 0.5)
        assert relay.run_once() == 0, f"retried before its {wait_s} s back-off"
        clock.advance(0.5)
        assert relay.run_once() == 1

    detail = notifications.get_event(event_id, merchant_id=None)
    assert detail.delivery.status is DeliveryStatus.DELIVERED
    assert detail.delivery.attempts == 4
    assert [a.status_code for a in reversed(detail.attempts)] == [500, 503, None, 200]
    assert detail.attempts[1].error == "ConnectError: refused"
    assert receiver.hits == Counter({event_id: 4})
    assert receiver.bad_signatures == 0
    assert len(receiver.raw_bodies[event_id]) == 1


def test_jitter_never_retries_before_the_schedule_and_at_most_its_share_after(
    emit: Emit, make_relay: MakeRelay, receiver: Receiver, clock: ManualClock
) -> None:
    emit(20)
    receiver.answers = [500] * 20
    relay = make_relay(policy=RetryPolicy(jitter=0.2))
    relay.run_once()

    clock.advance(4.99)
    assert relay.run_once() == 0
    clock.advance(1.02)
    assert relay.run_once() == 20


def test_a_delivery_that_keeps_failing_gives_up_as_failed(
    emit: Emit, make_relay: MakeRelay, receiver: Receiver, clock: ManualClock,
    notifications: Notifications,
) -> None:  # fmt: skip
    [event_id] = emit(1)
    receiver.answers = [500] * 10
    relay = make_relay(policy=RetryPolicy(delays_s=(1, 2), jitter=0))

    for _ in range(3):
        assert relay.run_once() == 1
        clock.advance(10)
    assert relay.run_once() == 0

    detail = notifications.get_event(event_id, merchant_id=None)
    assert detail.delivery.status is DeliveryStatus.FAILED
    assert detail.delivery.attempts == 3
    assert detail.delivery.last_status_code == 500
    assert detail.delivery.next_attempt_at is None
    assert notifications.delivery_stats().failed == 1


def test_an_endpoint_lookup_that_fails_counts_as_a_failed_attempt(
    emit: Emit, make_relay: MakeRelay, notifications: Notifications
) -> None:
    [event_id] = emit(1)

    def broken(_merchant_id: str) -> WebhookEndpoint:
        raise RuntimeError("merchants table unavailable")

    make_relay(endpoints=broken).run_once()

    delivery = notifications.get_event(event_id, merchant_id=None).delivery
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.last_error == "endpoint_lookup_failed: RuntimeError"


# -- no endpoint, resend ------------------------------------------------------------------------


def test_a_merchant_without_a_webhook_url_is_skipped_and_can_be_resent_later(
    emit: Emit, make_relay: MakeRelay, receiver: Receiver, notifications: Notifications
) -> None:
    [event_id] = emit(1, merchant_id="nohook_1")
    make_relay().run_once()

    skipped = notifications.get_event(event_id, merchant_id=None)
    assert skipped.delivery.status is DeliveryStatus.SKIPPED
    assert skipped.attempts == []
    assert not receiver.hits

    notifications.resend(event_id)
    make_relay(endpoints=lambda _m: WebhookEndpoint(URL, SECRET)).run_once()

    assert status_of(notifications, event_id) is DeliveryStatus.DELIVERED
    assert receiver.hits == Counter({event_id: 1})


def test_events_of_a_merchant_known_to_have_no_url_are_skipped_without_being_claimed(
    emit: Emit, make_relay: MakeRelay, receiver: Receiver, notifications: Notifications
) -> None:
    lookups: list[str] = []

    def no_url(merchant_id: str) -> WebhookEndpoint | None:
        lookups.append(merchant_id)
        return None

    relay = make_relay(endpoints=no_url, endpoint_cache_s=3600.0)
    [first] = emit(1, merchant_id="nohook_1")
    assert relay.run_once() == 1  # claimed: nothing was known about the merchant yet
    later = emit(3, merchant_id="nohook_1")

    assert relay.run_once() == 0  # skipped in SQL, not claimed

    assert lookups == ["nohook_1"]
    for event_id in [first, *later]:
        detail = notifications.get_event(event_id, merchant_id=None)
        assert detail.delivery.status is DeliveryStatus.SKIPPED
        assert (detail.delivery.attempts, detail.delivery.leased_until) == (0, None)
        assert detail.delivery.last_error == "no_webhook_endpoint"
        assert detail.attempts == []
    assert not receiver.hits


def test_a_merchant_whose_url_lookup_is_stale_is_claimed_and_looked_up_again(
    emit: Emit, make_relay: MakeRelay, receiver: Receiver, notifications: Notifications
) -> None:
    answers: list[WebhookEndpoint | None] = [None, WebhookEndpoint(URL, SECRET)]
    relay = make_relay(endpoints=lambda _m: answers.pop(0), endpoint_cache_s=0.0)
    emit(1, merchant_id="later_1")
    relay.run_once()
    [event_id] = emit(1, merchant_id="later_1")

    assert relay.run_once() == 1

    assert status_of(notifications, event_id) is DeliveryStatus.DELIVERED
    assert receiver.hits == Counter({event_id: 1})


def test_a_resent_event_arrives_again_with_the_same_id_and_body(
    emit: Emit, relay: WebhookRelay, receiver: Receiver, clock: ManualClock,
    notifications: Notifications,
) -> None:  # fmt: skip
    [event_id] = emit(1)
    relay.run_once()
    clock.advance(3600)

    again = notifications.resend(event_id, merchant_id="mer_a")
    assert again.status is DeliveryStatus.PENDING
    assert relay.run_once() == 1

    assert receiver.hits == Counter({event_id: 2})
    assert len(receiver.raw_bodies[event_id]) == 1
    detail = notifications.get_event(event_id, merchant_id=None)
    assert detail.delivery.status is DeliveryStatus.DELIVERED
    assert detail.delivery.delivered_at == clock.now()
    assert len(detail.attempts) == 2


def test_a_resend_during_a_send_is_not_lost(
    emit: Emit, make_relay: MakeRelay, receiver: Receiver, clock: ManualClock,
    notifications: Notifications,
) -> None:  # fmt: skip
    [event_id] = emit(1)
    first, second = make_relay(), make_relay()
    [claim] = first.claim()
    notifications.resend(event_id)

    outcome = first.send(claim, one_endpoint("mer_a") or WebhookEndpoint(URL, SECRET))
    assert first.record([outcome]) == 0  # the resend replaced this claim
    assert second.run_once() == 0  # still leased by the first relay
    clock.advance(61)
    assert second.run_once() == 1

    assert receiver.hits == Counter({event_id: 2})
    assert status_of(notifications, event_id) is DeliveryStatus.DELIVERED


# -- at least once, never concurrently ---------------------------------------------------------


def test_a_relay_that_dies_after_sending_leaves_the_event_to_be_sent_again_with_the_same_id(
    emit: Emit, make_relay: MakeRelay, receiver: Receiver, clock: ManualClock,
    notifications: Notifications,
) -> None:  # fmt: skip
    """At least once: the receiver got it, but the relay died before recording that."""
    [event_id] = emit(1)
    dying, survivor = make_relay(lease_s=60), make_relay()
    [claim] = dying.claim()
    late = dying.send(claim, WebhookEndpoint(URL, SECRET))  # ...and the process dies here

    assert survivor.run_once() == 0  # the lease still holds
    clock.advance(60)
    assert survivor.run_once() == 1

    assert receiver.hits == Counter({event_id: 2})
    assert len(receiver.raw_bodies[event_id]) == 1
    assert dying.record([late]) == 0  # a relay that comes back late changes nothing
    detail = notifications.get_event(event_id, merchant_id=None)
    assert detail.delivery.status is DeliveryStatus.DELIVERED
    assert detail.delivery.attempts == 2
    assert len(detail.attempts) == 2


@pytest.mark.parametrize("engines", [1, 2], ids=["one_engine", "two_engines"])
def test_two_relays_running_at_once_deliver_every_event_exactly_once(
    emit: Emit, engine: Engine, database_url: str, clock: ManualClock, receiver: Receiver,
    notifications: Notifications, engines: int, field_cipher: FieldCipher,
) -> None:  # fmt: skip
    """Two relays (threads of one process, or like two processes: each its own engine)."""
    ids = emit(150, merchant_id="mer_a") + emit(150, merchant_id="mer_b")
    stop = threading.Event()
    own = [make_engine(database_url, pool_size=2) for _ in range(engines - 1)]
    sent_by: Counter[int] = Counter()
    # Each relay's first delivery waits until the other relay has claimed work too, so a
    # fast relay cannot drain the whole backlog alone and the overlap is actually tested.
    sending = [threading.Event(), threading.Event()]

    def transport(relay_number: int) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            with receiver.lock:
                sent_by[relay_number] += 1
            sending[relay_number].set()
            sending[1 - relay_number].wait(10)
            return receiver.handle(request)

        return httpx.MockTransport(handle)

    threads = [
        start_relay(
            e,
            endpoints=one_endpoint,
            cipher=field_cipher,
            stop=stop,
            interval_s=0.01,
            clock=clock,
            transport=transport(n),
            batch_size=20,
            concurrency=4,
        )
        for n, e in enumerate([engine, *own] if engines == 2 else [engine, engine])
    ]
    try:
        deadline = time.monotonic() + 20
        while notifications.delivery_stats().pending and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        for e in own:
            e.dispose()

    assert receiver.hits == Counter(dict.fromkeys(ids, 1))
    assert receiver.bad_signatures == 0
    delivered = notifications.list_events(merchant_id=None, status=DeliveryStatus.DELIVERED,
                                          limit=1000)  # fmt: skip
    assert len(delivered.events) == 300
    assert all(v.delivery.attempts == 1 for v in delivered.events)
    assert sent_by[0] > 0 and sent_by[1] > 0, "both relays took part"


def test_a_hanging_receiver_holds_one_sender_while_other_merchants_get_theirs(
    emit: Emit,
    engine: Engine,
    clock: ManualClock,
    notifications: Notifications,
    field_cipher: FieldCipher,
) -> None:
    release = threading.Event()
    hits: Counter[str] = Counter()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "hangs.example":
            release.wait(10)
        hits[request.headers[EVENT_ID_HEADER]] += 1
        return httpx.Response(200)

    def endpoints(merchant_id: str) -> WebhookEndpoint:
        host = "hangs.example" if merchant_id == "mer_slow" else "fast.example"
        return WebhookEndpoint(f"https://{host}/hook", SECRET)

    [slow] = emit(1, merchant_id="mer_slow")
    fast = emit(40, merchant_id="mer_fast")
    stop = threading.Event()
    thread = start_relay(
        engine, endpoints=endpoints, cipher=field_cipher, stop=stop, interval_s=0.01, clock=clock,
        transport=httpx.MockTransport(handle), batch_size=10, concurrency=2,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while sum(hits[e] for e in fast) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert all(hits[e] == 1 for e in fast)
        assert status_of(notifications, slow) is DeliveryStatus.PENDING
    finally:
        release.set()
        stop.set()
        thread.join(10)
    assert status_of(notifications, slow) is DeliveryStatus.DELIVERED


# -- ops ----------------------------------------------------------------------------------------


def test_delivery_stats_show_the_backlog_and_its_age(
    emit: Emit, relay: WebhookRelay, clock: ManualClock, notifications: Notifications
) -> None:
    emit(3)
    clock.advance(90)
    emit(1, merchant_id="nohook_1")

    before = notifications.delivery_stats()
    relay.run_once()
    after = notifications.delivery_stats()

    assert (before.pending, before.oldest_pending_age_s) == (4, 90.0)
    assert (after.pending, after.oldest_pending_age_s, after.failed) == (0, 0.0, 0)
    assert after.skipped == 1


def test_a_relay_refuses_a_lease_shorter_than_two_send_timeouts(
    engine: Engine, field_cipher: FieldCipher
) -> None:
    with pytest.raises(ValueError, match="lease_s"):
        WebhookRelay(engine, endpoints=one_endpoint, cipher=field_cipher, lease_s=10, timeout_s=5)
