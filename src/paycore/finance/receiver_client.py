"""The finance system's client: push one voucher document, list what it booked on a day.

    with FinanceReceiverClient(url, secret=secret) as client:
        outcome = client.push(document)   # PushOutcome: acked | duplicate | retryable | permanent
        booked = client.booked(day)       # {voucher_id: body_hash}

Requests are signed with HMAC-SHA256 over `<timestamp>.<body>` (the receiver's
`sandbox_finance.model.signature_of`). Timeouts are short: a push that times out may have
been booked, and is pushed again later with the same voucher id, which the receiver
answers `duplicate`. Errors are values for `push` (the relay decides what to retry) and
`ReceiverError` for `booked` (reconciliation cannot go on without the list).

Which answers are retried: network errors, timeouts, 401 (a secret being rotated), 429 and
5xx. Not retried: 409 (the receiver booked this id with another body: a person must look)
and other 4xx (the document itself is refused; pushing it again would be refused again).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol

import httpx

from paycore.sandbox_finance.model import (
    DEFAULT_KEY_ID,
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    canonical_json,
    signature_of,
)

PUSH_TIMEOUT_S = 2.0
"""Waiting longer for a slow finance system only holds a relay; the push is retried."""
CONNECT_TIMEOUT_S = 1.0
ERROR_LENGTH_MAX = 256
"""finance_vouchers.last_error is String(256)."""


class PushKind(StrEnum):
    ACKED = "acked"  # booked now
    DUPLICATE = "duplicate"  # booked before, with this body: as good as acked
    RETRYABLE = "retryable"
    PERMANENT = "permanent"  # 409 conflict or a refused document: never retried blindly


@dataclass(frozen=True, slots=True)
class PushOutcome:
    kind: PushKind
    receiver_ref: str | None = None
    error: str = ""

    @property
    def booked(self) -> bool:
        return self.kind in (PushKind.ACKED, PushKind.DUPLICATE)


class HttpResponse(Protocol):
    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


class HttpClient(Protocol):
    """What the client sends with: an httpx.Client, or a Starlette TestClient in tests."""

    def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> HttpResponse: ...
    def get(self, url: str, *, params: dict[str, str], headers: dict[str, str]) -> HttpResponse: ...
    def close(self) -> None: ...


class ReceiverError(Exception):
    """The finance system could not be asked (`booked`): unreachable or refusing."""


def _short(text: str) -> str:
    return text if len(text) <= ERROR_LENGTH_MAX else text[: ERROR_LENGTH_MAX - 3] + "..."


class FinanceReceiverClient:
    def __init__(
        self,
        base_url: str,
        *,
        secret: bytes,
        key_id: str = DEFAULT_KEY_ID,
        timeout_s: float = PUSH_TIMEOUT_S,
        http: HttpClient | None = None,
    ) -> None:
        """`http`: an httpx client to send with (tests pass a Starlette TestClient);
        by default a pooled one with `timeout_s`."""
        self._secret = secret
        self._key_id = key_id
        self._owned = http is None
        timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
        self._http: HttpClient = http or httpx.Client(timeout=timeout)
        self._base_url = base_url.rstrip("/")

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def __enter__(self) -> FinanceReceiverClient:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def _headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))  # transport freshness, not business time
        return {
            KEY_ID_HEADER: self._key_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature_of(self._secret, timestamp=timestamp, body=body),
            "Content-Type": "application/json",
        }

    def push(self, document: Mapping[str, Any]) -> PushOutcome:
        """POST the document once; never raises for what the network or receiver does."""
        body = canonical_json(dict(document))
        try:
            response = self._http.post(
                f"{self._base_url}/vouchers", content=body, headers=self._headers(body)
            )
        except httpx.TimeoutException as exc:
            return PushOutcome(PushKind.RETRYABLE, error=_short(f"timeout: {type(exc).__name__}"))
        except httpx.HTTPError as exc:
            return PushOutcome(PushKind.RETRYABLE, error=_short(f"{type(exc).__name__}: {exc}"))
        return _outcome(response, document)

    def booked(self, business_date: date) -> dict[str, str]:
        """voucher id -> body hash of every voucher the receiver booked on that day."""
        try:
            response = self._http.get(
                f"{self._base_url}/vouchers",
                params={"business_date": business_date.isoformat()},
                headers=self._headers(b""),
            )
        except httpx.HTTPError as exc:
            raise ReceiverError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise ReceiverError(f"http_{response.status_code}: {_error_text(response)}")
        try:
            rows = response.json()["vouchers"]
            return {str(row["voucher_id"]): str(row["body_hash"]) for row in rows}
        except (ValueError, KeyError, TypeError) as exc:
            raise ReceiverError(f"malformed list: {exc}") from exc


def _error_text(response: HttpResponse) -> str:
    try:
        payload = response.json()
        return f"{payload['error']}: {payload.get('message', '')}"
    except (ValueError, KeyError, TypeError):
        return response.text[:100]


def _outcome(response: HttpResponse, document: Mapping[str, Any]) -> PushOutcome:
    status = response.status_code
    if status == 200:
        return _acked(response, document)
    error = _short(f"http_{status}: {_error_text(response)}")
    if status == 401 or status == 429 or status >= 500:
        return PushOutcome(PushKind.RETRYABLE, error=error)
    return PushOutcome(PushKind.PERMANENT, error=error)


def _acked(response: HttpResponse, document: Mapping[str, Any]) -> PushOutcome:
    """One outcome from however many acks came: a receiver that acknowledges twice (it
    processed the message twice) must still name this voucher, this body and one ref."""
    try:
        acks = response.json()["acks"]
        refs = {str(ack["receiver_ref"]) for ack in acks}
        results = {str(ack["result"]) for ack in acks}
        matches = all(
            ack["voucher_id"] == document["id"] and ack["body_hash"] == document["body_hash"]
            for ack in acks
        )
    except (ValueError, KeyError, TypeError):
        return PushOutcome(PushKind.RETRYABLE, error="malformed_ack")
    if not acks or len(refs) != 1 or not matches or not results <= {"booked", "duplicate"}:
        return PushOutcome(PushKind.RETRYABLE, error=_short(f"inconsistent_acks: {acks}"))
    kind = PushKind.ACKED if "booked" in results else PushKind.DUPLICATE
    return PushOutcome(kind, receiver_ref=refs.pop())
