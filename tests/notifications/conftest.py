"""Fixtures for notifications: a recording webhook receiver, relays, and an event writer."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.notifications import store  # noqa: F401  (declares the tables on the metadata)
from paycore.notifications.model import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    RetryPolicy,
    WebhookEndpoint,
    verify_signature,
)
from paycore.notifications.relay import WebhookRelay
from paycore.notifications.service import Notifications, enqueue
from paycore.security.crypto import FieldCipher

SECRET = "whsec_test_secret"
URL = "https://merchant.example/webhooks"
FIELD_KEY = bytes(range(32))
"""The key of `field_cipher` here: the CLI tests give it in PAYCORE_FIELD_KEYS (payloads
are sealed, migration 0030)."""


@pytest.fixture(scope="session")
def field_cipher() -> FieldCipher:
    return FieldCipher({"notif1": FIELD_KEY}, "notif1")


@dataclass
class Receiver:
    """A merchant's webhook endpoint behind httpx.MockTransport; thread-safe.

    `answers` is consumed per request (status codes, or exceptions to raise); once empty,
    every request gets 200. Each request's signature is checked with the test clock.
    """

    clock: ManualClock
    secret: str = SECRET
    answers: list[int | Exception] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw_bodies: dict[str, set[bytes]] = field(default_factory=dict)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        with self.lock:
            try:
                verify_signature(
                    self.secret, request.headers[SIGNATURE_HEADER], body, now=self.clock.now()
                )
            except Exception:
                self.bad_signatures += 1
            event_id = request.headers[EVENT_ID_HEADER]
            self.hits[event_id] += 1
            self.bodies.append(json.loads(body))
            self.raw_bodies.setdefault(event_id, set()).add(body)
            answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@pytest.fixture
def receiver(clock: ManualClock) -> Receiver:
    return Receiver(clock)


def one_endpoint(merchant_id: str) -> WebhookEndpoint | None:
    return WebhookEndpoint(URL, SECRET) if merchant_id.startswith("mer_") else None


NO_JITTER = RetryPolicy(jitter=0.0)


@pytest.fixture
def make_relay(
    engine: Engine, clock: ManualClock, receiver: Receiver, field_cipher: FieldCipher
) -> Iterator[Callable[..., WebhookRelay]]:
    """Build relays (closed after the test); keyword arguments override the defaults."""
    relays: list[WebhookRelay] = []

    def build(**options: Any) -> WebhookRelay:
        settings: dict[str, Any] = {
            "endpoints": one_endpoint,
            "cipher": field_cipher,
            "clock": clock,
            "transport": receiver.transport,
            "policy": NO_JITTER,
            "lease_s": 60.0,
            "timeout_s": 5.0,
            "concurrency": 4,
        }
        settings.update(options)
        relay = WebhookRelay(settings.pop("engine", engine), **settings)
        relays.append(relay)
        return relay

    yield build
    for relay in relays:
        relay.close()


@pytest.fixture
def relay(make_relay: Callable[..., WebhookRelay]) -> WebhookRelay:
    return make_relay()


@pytest.fixture
def notifications(engine: Engine, clock: ManualClock, field_cipher: FieldCipher) -> Notifications:
    return Notifications(engine, cipher=field_cipher, clock=clock)


@pytest.fixture
def emit(engine: Engine, clock: ManualClock, field_cipher: FieldCipher) -> Callable[..., list[str]]:
    """Commit `count` events for a merchant in one transaction; returns their ids."""

    def write(
        count: int = 1, *, merchant_id: str = "mer_a", type: str = "payin.succeeded"
    ) -> list[str]:
        with engine.begin() as conn:
            return [
                enqueue(
                    conn,
                    cipher=field_cipher,
                    merchant_id=merchant_id,
                    type=type,
                    object_id=f"pay_{i}",
                    payload={"order_id": f"pay_{i}", "amount": 100 * (i + 1), "currency": "CNY"},
                    now=clock.now(),
                )
                for i in range(count)
            ]

    return write
