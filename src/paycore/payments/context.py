"""What the payment use cases are built on, once per process: the database, the ledger,
the channels and their routes, the outbox, the clock, the field cipher; and the
idempotency key a create request came with."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from paycore.channels.config import QUERY_SCHEDULE_DEFAULT_S
from paycore.channels.model import Channel
from paycore.clock import Clock
from paycore.ledger.service import Ledger
from paycore.payments.model import Order
from paycore.security.crypto import FieldCipher

T = TypeVar("T")


class ChannelDirectory(Protocol):
    """The registry as payments uses it: calls go through health tracking."""

    def get(self, name: str) -> Channel: ...

    def call(self, name: str, fn: Callable[[Channel], T]) -> T: ...


class Routing(Protocol):
    def candidates(self, product: str, currency: str, operation: Any) -> list[str]: ...


class EventSink(Protocol):
    def __call__(
        self,
        conn: Connection,
        *,
        merchant_id: str,
        type: str,
        object_id: str,
        payload: Mapping[str, Any],
        now: datetime,
    ) -> str: ...


@dataclass
class PaymentsContext:
    """Everything the payment use cases need, built once per process."""

    engine: Engine
    ledger: Ledger
    channels: ChannelDirectory
    router: Routing
    events: EventSink
    clock: Clock
    public_url: str
    cipher: FieldCipher
    """Seals the stored answers of idempotency keys (C2: copies of the order's view)."""
    business_tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    query_schedule_s: Callable[[str | None], tuple[int, ...]] = lambda _channel: (
        QUERY_SCHEDULE_DEFAULT_S
    )
    """The janitor's query-back schedule of a channel."""
    request_hash_key: bytes = b""
    ensured_accounts: set[str] = field(default_factory=set)
    after_final: list[Callable[[Order], None]] = field(default_factory=list)
    """Called after an order became final and committed (split, custody, collection).
    Best effort: a crash can lose a call, so every listener also sweeps
    `Payments.finished_between` and must be idempotent."""

    def business_date(self, at: datetime) -> date:
        return at.astimezone(self.business_tz).date()

    def notify_url(self, channel: str) -> str:
        return f"{self.public_url.rstrip('/')}/v1/channels/{channel}/notifications"

    def request_hash(self, canonical: bytes) -> str:
        # Keyed: the request may hold a card number, and a plain hash of one is guessable.
        return hashlib.blake2b(
            canonical, key=self.request_hash_key[:64], digest_size=32
        ).hexdigest()


@dataclass(frozen=True, slots=True)
class Idem:
    """The idempotency key a create request came with, to store its response under."""

    merchant_id: str
    key: str
