"""Merchant notifications: events, their delivery state, retries and webhook signatures.

Pure rules: no SQL, no HTTP. The store keeps these records, the relay moves them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from paycore import limits
from paycore.errors import Rejected
from paycore.text import is_ascii_digits

EVENT_TYPE_LENGTH_MAX = 64
PAYLOAD_BYTES_MAX = 64 * 1024
"""Serialized JSON size of an event's data: a webhook is a notice, not a data export."""
EVENTS_PAGE_MAX = 1000
EVENTS_PAGE_DEFAULT = 100
ATTEMPTS_SHOWN_MAX = 100
"""Attempts listed with one event, newest first; the log keeps every one."""
ERROR_LENGTH_MAX = 200
URL_LENGTH_MAX = 2048
RELAY_BATCH_MAX = 1000
"""Deliveries one relay claims in one transaction."""
SIGNATURE_TOLERANCE_S = 300
"""Receivers refuse a signature whose timestamp is further than this from their clock."""
NO_ENDPOINT_ERROR = "no_webhook_endpoint"
"""`last_error` of a delivery skipped because its merchant has no webhook URL."""
SIGNATURE_HEADER = "Paycore-Signature"
EVENT_ID_HEADER = "Paycore-Event-Id"

_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


class Endpoint(Protocol):
    """Where a merchant receives webhooks: any object with these two fields will do."""

    @property
    def url(self) -> str: ...

    @property
    def secret(self) -> str: ...


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    url: str
    secret: str = field(repr=False)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    merchant_id: str
    type: str
    object_id: str
    payload: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: str
    merchant_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    leased_until: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    id: str
    event_id: str
    attempted_at: datetime
    url: str
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# -- events -----------------------------------------------------------------------------


def new_event(
    *,
    event_id: str,
    merchant_id: str,
    type: str,
    object_id: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> tuple[Event, Delivery]:
    """An event and its first delivery, due at once; refuses what a receiver could not use."""
    if not merchant_id or len(merchant_id) > limits.ID_LENGTH_MAX:
        raise Rejected("merchant_id_invalid", "merchant_id must be 1 to 64 characters")
    if not object_id or len(object_id) > limits.ID_LENGTH_MAX:
        raise Rejected("object_id_invalid", "object_id must be 1 to 64 characters")
    if len(type) > EVENT_TYPE_LENGTH_MAX or not _EVENT_TYPE.fullmatch(type):
        raise Rejected("event_type_invalid", f"{type!r} is not like 'payin.succeeded'")
    try:
        size = len(json.dumps(payload, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise Rejected("payload_not_json", str(exc)) from None
    if size > PAYLOAD_BYTES_MAX:
        raise Rejected("payload_too_large", f"payload is over {PAYLOAD_BYTES_MAX} bytes")
    event = Event(event_id, merchant_id, type, object_id, dict(payload), now)
    delivery = Delivery(event_id, merchant_id, DeliveryStatus.PENDING, 0, next_attempt_at=now)
    return event, delivery


def body_of(event: Event) -> bytes:
    """The webhook body: the same bytes on every attempt and every resend of the event."""
    document = {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": event.payload,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


# -- retries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Wait `delays_s[n-1]` after the n-th failed attempt, stretched by up to `jitter`.

    The defaults try 9 times: 5 s, 30 s, 2 min, 10 min, 1 h, 3 h, 6 h, 8 h after each failure
    (18 h of waiting, under 22 h with the most jitter), then give up: status `failed`, and a
    resend starts over.
    """

    delays_s: Sequence[float] = (5, 30, 120, 600, 3600, 3 * 3600, 6 * 3600, 8 * 3600)
    jitter: float = 0.2
    """A delay is multiplied by 1 + jitter * u for u in [0, 1): never earlier than the
    schedule, and merchants that failed together do not retry together."""

    @property
    def attempts_max(self) -> int:
        return len(self.delays_s) + 1

    def delay_s(self, attempts: int, u: float) -> float | None:
        """The wait after `attempts` failed attempts, or None once they are used up."""
        if attempts < 1 or attempts > len(self.delays_s):
            return None
        return float(self.delays_s[attempts - 1]) * (1 + self.jitter * u)


def claimed(delivery: Delivery, *, now: datetime, lease_s: float) -> Delivery:
    """A relay takes the delivery: it counts as an attempt even if the relay dies mid-send,
    so an event that crashes its sender cannot loop forever. (store.claim_due does the
    same in SQL for a whole batch.)"""
    return replace(
        delivery,
        attempts=delivery.attempts + 1,
        leased_until=now + timedelta(seconds=lease_s),
    )


def settled(
    delivery: Delivery, attempt: Attempt, *, now: datetime, policy: RetryPolicy, u: float
) -> Delivery:
    """The delivery after a claimed attempt ended at `now`: delivered, retried, or failed.

    `u` in [0, 1) picks the jitter; the retry waits from the end of the attempt.
    """
    common = replace(
        delivery, leased_until=None, last_status_code=attempt.status_code, last_error=attempt.error
    )
    if attempt.succeeded:
        return replace(
            common, status=DeliveryStatus.DELIVERED, next_attempt_at=None, delivered_at=now
        )
    delay = policy.delay_s(delivery.attempts, u)
    if delay is None:
        return replace(common, status=DeliveryStatus.FAILED, next_attempt_at=None)
    return replace(
        common, status=DeliveryStatus.PENDING, next_attempt_at=now + timedelta(seconds=delay)
    )


def skipped(delivery: Delivery) -> Delivery:
    """The merchant has no webhook endpoint: nothing was sent, nothing is counted."""
    return replace(
        delivery,
        status=DeliveryStatus.SKIPPED,
        attempts=delivery.attempts - 1,
        next_attempt_at=None,
        leased_until=None,
        last_error=NO_ENDPOINT_ERROR,
    )


def rescheduled(delivery: Delivery, *, now: datetime) -> Delivery:
    """A manual resend: due now with a fresh retry budget, whatever its state.

    The lease stays: a relay that is sending it right now finishes first (its result no
    longer matches and is only logged), and the resend goes out once that lease ends.
    """
    return replace(
        delivery,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        delivered_at=None,
    )


# -- signatures ---------------------------------------------------------------------------


def sign(secret: str, *, timestamp: int, body: bytes) -> str:
    """The `Paycore-Signature` header: HMAC-SHA256 over `{timestamp}.{body}`."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    *,
    now: datetime,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
) -> None:
    """Check a webhook as its receiver: returns None, or raises Rejected.

    Codes: `signature_malformed` (no `t=` or no `v1=`), `signature_timestamp_out_of_range`
    (further than `tolerance_s` from `now`: a replay or a wrong clock), `signature_mismatch`.
    Several `v1=` values are allowed (a secret being rotated); one match is enough.
    """
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and is_ascii_digits(value):
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise Rejected("signature_malformed", "expected t=<unix seconds>,v1=<hex>")
    if abs(now.timestamp() - timestamp) > tolerance_s:
        raise Rejected("signature_timestamp_out_of_range", f"older or newer than {tolerance_s} s")
    expected = _mac(secret, timestamp, raw)
    matches = [hmac.compare_digest(expected.encode(), c.encode()) for c in candidates]
    if not any(matches):
        raise Rejected("signature_mismatch", "the body or the secret differs")


def short_error(text: str) -> str:
    return text if len(text) <= ERROR_LENGTH_MAX else text[: ERROR_LENGTH_MAX - 1] + "…"
