"""What the push client makes of each answer: only acknowledgements naming this voucher
and body count as booked; 409 and refused documents are permanent; the rest is retried."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from paycore.finance.receiver_client import FinanceReceiverClient, PushKind, ReceiverError
from tests.finance.conftest_push import voucher_document

DOCUMENT = voucher_document(1)
Handler = Callable[[httpx.Request], httpx.Response]


def ack(result: str = "booked", ref: str = "fv_1", **changes: Any) -> dict[str, Any]:
    found = {"voucher_id": DOCUMENT["id"], "body_hash": DOCUMENT["body_hash"], "result": result,
             "receiver_ref": ref}  # fmt: skip
    return {**found, **changes}


def answer(status: int, payload: Any) -> Handler:
    return lambda _request: httpx.Response(status, json=payload)


def raising(error: Exception) -> Handler:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise error

    return handler


def client_with(handler: Handler) -> FinanceReceiverClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return FinanceReceiverClient("http://finance.test", secret=b"s", http=http)


@pytest.mark.parametrize(
    ("handler", "kind", "error_start"),
    [
        (answer(200, {"acks": [ack()]}), PushKind.ACKED, ""),
        (answer(200, {"acks": [ack("duplicate")]}), PushKind.DUPLICATE, ""),
        (answer(200, {"acks": [ack(), ack("duplicate")]}), PushKind.ACKED, ""),
        (answer(200, {"acks": [ack(), ack(ref="fv_2")]}), PushKind.RETRYABLE, "inconsistent"),
        (answer(200, {"acks": [ack(voucher_id="vch_other")]}), PushKind.RETRYABLE, "inconsistent"),
        (answer(200, {"acks": [ack(body_hash="0" * 64)]}), PushKind.RETRYABLE, "inconsistent"),
        (answer(200, {"acks": []}), PushKind.RETRYABLE, "inconsistent"),
        (answer(200, {"ok": True}), PushKind.RETRYABLE, "malformed_ack"),
        (
            answer(409, {"error": "voucher_conflict", "message": "m"}),
            PushKind.PERMANENT,
            "http_409",
        ),
        (answer(422, {"error": "voucher_unbalanced"}), PushKind.PERMANENT, "http_422"),
        (answer(401, {"error": "bad_signature"}), PushKind.RETRYABLE, "http_401"),
        (answer(429, {}), PushKind.RETRYABLE, "http_429"),
        (answer(503, {"error": "receiver_down"}), PushKind.RETRYABLE, "http_503: receiver_down"),
        (raising(httpx.ReadTimeout("slow")), PushKind.RETRYABLE, "timeout"),
        (raising(httpx.ConnectError("refused")), PushKind.RETRYABLE, "ConnectError"),
    ],
)
def test_each_answer_becomes_one_outcome(
    handler: Handler, kind: PushKind, error_start: str
) -> None:
    outcome = client_with(handler).push(DOCUMENT)
    assert outcome.kind is kind
    assert outcome.error.startswith(error_start)
    assert (outcome.receiver_ref == "fv_1") is outcome.booked


def test_a_push_is_signed_over_the_exact_body_it_sends() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"acks": [ack()]})

    client_with(handler).push(DOCUMENT)
    [request] = seen
    assert json.loads(request.content) == DOCUMENT
    assert {"x-finance-key-id", "x-finance-timestamp", "x-finance-signature"} <= set(
        request.headers
    )


def test_a_booked_list_that_cannot_be_had_raises_rather_than_reporting_nothing_booked() -> None:
    for handler in (answer(503, {"error": "receiver_down"}), raising(httpx.ConnectError("x")),
                    answer(200, {"rows": []})):  # fmt: skip
        with pytest.raises(ReceiverError):
            client_with(handler).booked(date(2026, 1, 1))
