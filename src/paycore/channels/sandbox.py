"""The sandbox bank as a paycore `Channel`: signed HTTP over one keep-alive urllib3 pool.

What the bank's answers become (who may do what next is in channels/model.py):

| the bank did                                   | the adapter returns or raises            |
|------------------------------------------------|------------------------------------------|
| connection refused, connect timeout, pool full | ChannelUnavailable (certainly not sent)  |
| (every transport error: channels/bank_http.py) |                                          |
| 503                                            | ChannelUnavailable (certainly not done)  |
| 401 (our signature refused)                    | ChannelUnavailable (refused, not done)   |
| read/write timeout, dropped connection         | ChannelTimeout (result unknown)          |
| 500, 502, 504, any other 5xx                   | ChannelTimeout (result unknown)          |
| a response without a valid bank signature      | ChannelTimeout (cannot trust it)         |
| 400/409/413 refusal                            | ChannelResult(FAILED, code, MERCHANT)    |
| 404 on query                                   | ChannelResult(NOT_FOUND)                 |
| 200                                            | ChannelResult(status as the bank says)   |

The bank's reason codes and who caused them (`REASON_CLASSES`); a code not listed is
counted against the channel:

| reason code                                            | failure class |
|--------------------------------------------------------|---------------|
| insufficient_funds, card_declined, invalid_card,       | user          |
| payer_cancelled, account_closed, name_mismatch         |               |
| invalid_request, reference_conflict, payin_not_found,  | merchant      |
| payin_not_refundable, refund_exceeds_refundable,       |               |
| payin_expired, body_too_large                          |               |
| issuer_unavailable, clearing_failed, anything else     | channel       |

A RETURNED payout carries the return's reason code and its class as well.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from paycore import strict_json
from paycore.channels import signing
from paycore.channels.bank_http import BankAnswer, BankConnections
from paycore.channels.model import (
    BadNotification,
    ChannelResult,
    ChannelStatus,
    ChannelTimeout,
    ChannelUnavailable,
    FailureClass,
    Notification,
    Operation,
    PayinRequest,
    PayoutRequest,
    RefundRequest,
)
from paycore.clock import Clock

MERCHANT_PRIVATE_KEY_FILE = "merchant_private.pem"
BANK_PUBLIC_KEY_FILE = "bank_public.pem"
DEFAULT_MERCHANT_ID = "paycore"

REASON_CLASSES: Mapping[str, FailureClass] = {
    "insufficient_funds": FailureClass.USER,
    "card_declined": FailureClass.USER,
    "invalid_card": FailureClass.USER,
    "payer_cancelled": FailureClass.USER,
    "account_closed": FailureClass.USER,
    "name_mismatch": FailureClass.USER,
    "invalid_request": FailureClass.MERCHANT,
    "reference_conflict": FailureClass.MERCHANT,
    "payin_not_found": FailureClass.MERCHANT,
    "payin_not_refundable": FailureClass.MERCHANT,
    "refund_exceeds_refundable": FailureClass.MERCHANT,
    "payin_expired": FailureClass.MERCHANT,
    "body_too_large": FailureClass.MERCHANT,
    "issuer_unavailable": FailureClass.CHANNEL,
    "clearing_failed": FailureClass.CHANNEL,
}
_REFUSALS = frozenset({400, 409, 413})
_COLLECTIONS = {Operation.PAYIN: "payins", Operation.PAYOUT: "payouts", Operation.REFUND: "refunds"}


def failure_class_of(code: str) -> FailureClass:
    return REASON_CLASSES.get(code, FailureClass.CHANNEL)


class SandboxChannel:
    """A `Channel` speaking to one sandbox bank. Thread-safe.

    `close(reference)` is the protocol's close of a pay-in; `close_connections()` (or leaving
    a `with` block) releases the HTTP connections.
    """

    statement_format = "sandbox_csv"
    """What `fetch_statement` returns, for the reconciliation's daily close."""

    def __init__(
        self,
        name: str,
        base_url: str,
        merchant_id: str,
        merchant_private_key: Ed25519PrivateKey,
        bank_public_key: Ed25519PublicKey,
        timeout_s: float = 2.0,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.merchant_id = merchant_id
        self._private_key = merchant_private_key
        self._bank_key = bank_public_key
        self._clock = clock
        self._connections = BankConnections(name, base_url, timeout_s)

    def close_connections(self) -> None:
        self._connections.close()

    def __enter__(self) -> SandboxChannel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close_connections()

    # -- the Channel protocol -----------------------------------------------------------------

    def pay_in(self, request: PayinRequest) -> ChannelResult:
        payer = request.payer
        body = {
            "reference": request.reference,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "card": {
                "number": payer.card_number,
                "name": payer.name,
                "id_number": payer.id_number,
                "phone": payer.phone,
            },
            "description": request.description,
            "expires_at": request.expires_at.isoformat(),
            "notify_url": request.notify_url,
        }
        return self._result(self._call("POST", "/v1/payins", body), request.reference)

    def pay_out(self, request: PayoutRequest) -> ChannelResult:
        account = request.beneficiary
        body = {
            "reference": request.reference,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "beneficiary": {
                "account_number": account.account_number,
                "name": account.name,
                "bank_code": account.bank_code,
            },
            "description": request.description,
            "notify_url": request.notify_url,
        }
        return self._result(self._call("POST", "/v1/payouts", body), request.reference)

    def refund(self, request: RefundRequest) -> ChannelResult:
        body = {
            "reference": request.reference,
            "payin_reference": request.payin_reference,
            "payin_bank_txn_no": request.payin_channel_txn_id,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "notify_url": request.notify_url,
        }
        return self._result(self._call("POST", "/v1/refunds", body), request.reference)

    def query(self, operation: Operation, reference: str) -> ChannelResult:
        path = f"/v1/{_COLLECTIONS[operation]}/{quote(reference, safe='')}"
        response = self._call("GET", path, None)
        if response.status_code == 404:
            return ChannelResult(ChannelStatus.NOT_FOUND)
        return self._result(response, reference)

    def close(self, reference: str) -> ChannelResult:
        path = f"/v1/payins/{quote(reference, safe='')}/close"
        return self._result(self._call("POST", path, None), reference)

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        try:
            signing.verify(
                self._bank_key, headers, verb=signing.CALLBACK_VERB, path="", body=body,
                now_s=self._now_s(),
            )  # fmt: skip
        except signing.SignatureError as exc:
            code = "stale_notification" if exc.code == "stale_signature" else "bad_signature"
            raise BadNotification(self.name, code, exc.detail) from exc
        try:
            data = strict_json.loads(body)
            return Notification(
                notification_id=_text(data, "notification_id"),
                operation=Operation(_text(data, "type")),
                reference=_text(data, "reference"),
                result=_result_of(data),
            )
        except strict_json.MalformedJson as exc:
            raise BadNotification(self.name, "malformed_notification", exc.detail) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadNotification(self.name, "malformed_notification", str(exc)) from exc

    def fetch_statement(self, day: date) -> bytes:
        response = self._call("GET", f"/v1/statements/{day.isoformat()}", None)
        if response.status_code != 200:
            raise ChannelUnavailable(self.name, f"no statement for {day}: {_error_of(response)}")
        return response.content

    def probe(self) -> None:
        response = self._connections.exchange("GET", "/health", b"", {})
        if response.status_code != 200:
            raise _status_error(self.name, response) or ChannelUnavailable(
                self.name, f"health answered {response.status_code}"
            )

    # -- HTTP ---------------------------------------------------------------------------------

    def _now_s(self) -> float:
        return self._clock.now().timestamp() if self._clock is not None else time.time()

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> BankAnswer:
        """Send one signed request; returns a response whose bank signature was verified."""
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = signing.sign(
            self._private_key, key_id=self.merchant_id, verb=method, path=path, body=body,
            timestamp=int(self._now_s()),
        )  # fmt: skip
        if payload is not None:
            headers["Content-Type"] = "application/json"
        response = self._connections.exchange(method, path, body, headers)
        failure = _status_error(self.name, response)
        if failure is not None:
            raise failure
        try:
            signed = signing.verify(
                self._bank_key, response.headers,
                verb=f"{signing.RESPONSE_VERB} {response.status_code}", path=path,
                body=response.content, now_s=self._now_s(),
            )  # fmt: skip
        except signing.SignatureError as exc:
            raise ChannelTimeout(self.name, f"unverifiable response: {exc.detail}") from exc
        if signed.nonce != headers[signing.NONCE_HEADER]:
            raise ChannelTimeout(self.name, "the response answers another request")
        if response.status_code == 401:
            raise ChannelUnavailable(self.name, f"the bank refused us: {_error_of(response)}")
        return response

    def _result(self, response: BankAnswer, reference: str) -> ChannelResult:
        if response.status_code in _REFUSALS:
            code, message = _error_of(response)
            return ChannelResult(
                ChannelStatus.FAILED,
                failure_code=code,
                failure_class=failure_class_of(code),
                failure_message=message,
            )
        try:
            data = response.json()
            if response.status_code != 200 or data.get("reference") != reference:
                raise ValueError(f"answer {response.status_code} for {data.get('reference')}")
            return _result_of(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ChannelTimeout(self.name, f"unreadable response: {exc}") from exc


def _status_error(name: str, response: BankAnswer) -> ChannelUnavailable | ChannelTimeout | None:
    if response.status_code == 503:
        return ChannelUnavailable(name, "the bank answered 503: not processed")
    if response.status_code >= 500:
        return ChannelTimeout(name, f"the bank answered {response.status_code}: result unknown")
    return None


def _error_of(response: BankAnswer) -> tuple[str, str]:
    try:
        data = response.json()
        return str(data["error"]), str(data.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}", response.text[:200]


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _result_of(data: Mapping[str, Any]) -> ChannelResult:
    """The bank's view of one transaction as a ChannelResult."""
    status = ChannelStatus(data["status"])
    if status is ChannelStatus.NOT_FOUND:
        raise ValueError("the bank never says not_found in a transaction")
    code = data.get("failure_code") or None
    failed = status in (ChannelStatus.FAILED, ChannelStatus.RETURNED)
    finished = data.get("returned_at") if status is ChannelStatus.RETURNED else data["finished_at"]
    return ChannelResult(
        status=status,
        channel_txn_id=_text(data, "bank_txn_no"),
        failure_code=code if failed else None,
        failure_class=failure_class_of(code) if failed and code else None,
        failure_message=str(data.get("failure_message") or "") if failed else "",
        finished_at=_instant(finished),
    )


def load_sandbox_channel(
    name: str,
    base_url: str,
    data_dir: Path | str,
    *,
    merchant_id: str = DEFAULT_MERCHANT_ID,
    timeout_s: float = 2.0,
) -> SandboxChannel:
    """A channel using the keys a sandbox bank wrote into its data dir on first start:
    `<data_dir>/merchant_private.pem` (ours) and `<data_dir>/bank_public.pem` (the bank's)."""
    directory = Path(data_dir)
    return SandboxChannel(
        name,
        base_url,
        merchant_id,
        signing.load_private_key(directory / MERCHANT_PRIVATE_KEY_FILE),
        signing.load_public_key(directory / BANK_PUBLIC_KEY_FILE),
        timeout_s=timeout_s,
    )
