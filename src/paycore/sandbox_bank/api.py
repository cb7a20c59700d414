"""The sandbox bank's HTTP API: signed /v1 endpoints for merchants, unsigned /admin for tests.

Handlers take the raw request (the signature covers the exact body bytes) and validate
with the model's parsers, answering in the bank's own error format:
`{"error": "<code>", "message": "..."}`. Every /v1 answer except 500/503 is signed with the
bank's key and bound to the request's nonce.

Plain Starlette routes, not FastAPI: the handlers read raw bodies and build their own
responses, so FastAPI's dependency solving and validation only added CPU (measured
~0.1 ms a request, a tenth of the bank's cost per pay-in, on the same 2-core box as
paycore in the benchmarks).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paycore import strict_json
from paycore.channels import signing
from paycore.clock import Clock, date_problem
from paycore.errors import Rejected
from paycore.sandbox_bank import model
from paycore.sandbox_bank.config import BankConfig
from paycore.sandbox_bank.credits import credit_request_of
from paycore.sandbox_bank.model import Txn, TxnType
from paycore.sandbox_bank.service import (
    NOT_FOUND,
    Bank,
    BankFailedAfterRecording,
    BankUnavailable,
)

_STATUS_BY_CODE = {
    model.INVALID_REQUEST: 400,
    "bad_signature": 401,
    "stale_signature": 401,
    "replayed_request": 401,
    "unknown_merchant": 401,
    NOT_FOUND: 404,
    model.REFERENCE_CONFLICT: 409,
    "body_too_large": 413,
}
_KINDS = {"payins": TxnType.PAYIN, "payouts": TxnType.PAYOUT, "refunds": TxnType.REFUND}


def _bank(request: Request) -> Bank:
    bank: Bank = request.app.state.bank
    return bank


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _raw_path(request: Request) -> str:
    raw: bytes | None = request.scope.get("raw_path")
    return raw.decode("ascii").split("?", 1)[0] if raw else request.url.path


def _signed(
    request: Request, status: int, body: bytes, media_type: str = "application/json"
) -> Response:
    bank = _bank(request)
    headers = signing.sign(
        bank.private_key,
        key_id=bank.config.bank_key_id,
        verb=f"{signing.RESPONSE_VERB} {status}",
        path=_raw_path(request),
        body=body,
        nonce=signing.header(request.headers, signing.NONCE_HEADER) or "",
    )
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def _error(request: Request, code: str, message: str) -> Response:
    payload = _json({"error": code, "message": message})
    return _signed(request, _STATUS_BY_CODE.get(code, 400), payload)


async def _merchant(request: Request) -> tuple[str, bytes]:
    """The verified merchant id and the body; raises Rejected when it must be refused."""
    body = await request.body()
    if len(body) > model.BODY_BYTES_MAX:
        raise Rejected("body_too_large", f"the body is over {model.BODY_BYTES_MAX} bytes")
    bank = _bank(request)
    merchant_id = signing.header(request.headers, signing.KEY_ID_HEADER) or ""
    key = bank.merchant_key(merchant_id)
    if key is None:
        raise Rejected("unknown_merchant", f"no merchant with key id {merchant_id!r}")
    now_s = time.time()
    try:
        signed = signing.verify(
            key, request.headers, verb=request.method, path=_raw_path(request), body=body,
            now_s=now_s,
        )  # fmt: skip
    except signing.SignatureError as exc:
        raise Rejected(exc.code, exc.detail) from exc
    if not bank.nonces.first_use(merchant_id, signed.nonce, now_s=now_s):
        raise Rejected("replayed_request", "this nonce was already used")
    return merchant_id, body


def _parse(body: bytes) -> dict[str, Any]:
    try:
        data = strict_json.loads(body)
    except strict_json.MalformedJson as exc:
        raise Rejected(model.INVALID_REQUEST, f"the body is not JSON: {exc.detail}") from exc
    if not isinstance(data, dict):
        raise Rejected(model.INVALID_REQUEST, "the body must be a JSON object")
    return data


UseCase = Callable[[Bank, str, bytes], Awaitable[Txn]]


async def _handle(request: Request, use_case: UseCase) -> Response:
    """Authenticate, run, render: the bank's answers and refusals, signed; 5xx unsigned."""
    try:
        merchant_id, body = await _merchant(request)
        txn = await use_case(_bank(request), merchant_id, body)
    except Rejected as exc:
        return _error(request, exc.code, exc.detail)
    except BankUnavailable as exc:
        return Response(_json({"error": "service_unavailable", "message": str(exc)}), 503)
    except BankFailedAfterRecording:
        return Response(_json({"error": "internal_error", "message": "try querying later"}), 500)
    return _signed(request, 200, _json(txn.view()))


# -- merchant endpoints (signed) --------------------------------------------------------------


async def create_payin(request: Request) -> Response:
    """Debit a card. `reference` is the merchant's order id and its idempotency key."""

    async def run(bank: Bank, merchant_id: str, body: bytes) -> Txn:
        return await bank.create_payin(merchant_id, _parse(body))

    return await _handle(request, run)


async def create_payout(request: Request) -> Response:
    """Pay a bank account."""

    async def run(bank: Bank, merchant_id: str, body: bytes) -> Txn:
        return await bank.create_payout(merchant_id, _parse(body))

    return await _handle(request, run)


async def create_refund(request: Request) -> Response:
    """Refund part or all of a paid pay-in; never more than paid minus refunds."""

    async def run(bank: Bank, merchant_id: str, body: bytes) -> Txn:
        return await bank.create_refund(merchant_id, _parse(body))

    return await _handle(request, run)


async def close_payin(request: Request) -> Response:
    """Close an unpaid pay-in; answers its final status (closed, or what it already was)."""
    reference: str = request.path_params["reference"]

    async def run(bank: Bank, merchant_id: str, _body: bytes) -> Txn:
        return bank.close_payin(merchant_id, reference)

    return await _handle(request, run)


async def statement(request: Request) -> Response:
    """The merchant's statement for one business day, as CSV."""
    day: str = request.path_params["day"]
    try:
        merchant_id, _ = await _merchant(request)
        try:
            business_day = date.fromisoformat(day)
        except ValueError as exc:
            raise Rejected(model.INVALID_REQUEST, "the day must be YYYY-MM-DD") from exc
        if (problem := date_problem(business_day)) is not None:
            raise Rejected(model.INVALID_REQUEST, problem)
        csv = await _bank(request).statement(merchant_id, business_day)
    except Rejected as exc:
        return _error(request, exc.code, exc.detail)
    return _signed(request, 200, csv, media_type="text/csv")


async def query(request: Request) -> Response:
    """One transaction by the merchant's reference (404 not_found if never received)."""
    kind: str = request.path_params["kind"]
    reference: str = request.path_params["reference"]

    async def run(bank: Bank, merchant_id: str, _body: bytes) -> Txn:
        if kind not in _KINDS:
            raise Rejected(NOT_FOUND, f"no such collection {kind!r}")
        return bank.query(merchant_id, _KINDS[kind], reference)

    return await _handle(request, run)


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


# -- admin endpoints (unsigned; never expose a real bank like this) ---------------------------


async def faults(request: Request) -> Response:
    if request.method == "GET":
        return JSONResponse(_bank(request).faults.as_dict())
    return await put_faults(request)


async def put_faults(request: Request) -> Response:
    """Change some settings of the failure mix; the others keep their values."""
    try:
        faults = _bank(request).set_faults(_parse(await request.body()))
    except Rejected as exc:
        return Response(_json({"error": exc.code, "message": exc.detail}), 400)
    return Response(_json(faults.as_dict()), media_type="application/json")


async def transactions(request: Request) -> Response:
    """Every transaction the bank recorded, oldest first (`?type=payin|payout|refund`)."""
    type = request.query_params.get("type")
    merchant_id = request.query_params.get("merchant_id")
    kind = TxnType(type) if type in {t.value for t in TxnType} else None
    txns = await _bank(request).transactions(kind=kind, merchant_id=merchant_id)
    views = [{**txn.view(), "merchant_id": txn.merchant_id} for txn in txns]
    return Response(_json(views), media_type="application/json")


async def advance(request: Request) -> Response:
    """`{"seconds": N}`: move the bank's clock forward; due results and returns happen."""
    try:
        data = _parse(await request.body())
        seconds = data.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise Rejected(model.INVALID_REQUEST, "seconds must be a number")
        bank = _bank(request)
        bank.advance(float(seconds))
    except Rejected as exc:
        return Response(_json({"error": exc.code, "message": exc.detail}), 400)
    return Response(_json({"now": bank.clock.now().isoformat()}), media_type="application/json")


async def receive_credit(request: Request) -> Response:
    """A third party's transfer into one of a merchant's accounts (a virtual account):
    `{"account", "amount_minor", "currency", "payer": {"account_number", "name"},
    "merchant_id"?}`. It shows only on the statement, as a CREDIT row."""
    try:
        data = _parse(await request.body())
        merchant_id = data.get("merchant_id", model.DEFAULT_MERCHANT_ID)
        bank = _bank(request)
        if not isinstance(merchant_id, str) or bank.merchant_key(merchant_id) is None:
            raise Rejected("unknown_merchant", f"no merchant {merchant_id!r}")
        credit = bank.receive_credit(merchant_id, credit_request_of(data))
    except Rejected as exc:
        return Response(_json({"error": exc.code, "message": exc.detail}), 400)
    return Response(_json(credit.view()), 201, media_type="application/json")


async def trigger_returns(request: Request) -> Response:
    """Return now every paid payout that was going to be returned later."""
    returned = _bank(request).trigger_returns()
    return JSONResponse({"returned": [txn.reference for txn in returned]})


async def notifications(request: Request) -> Response:
    """Recent delivery attempts, oldest first, and how many are still pending."""
    notifier = _bank(request).notifier
    return JSONResponse({"pending": notifier.pending_count(), "attempts": list(notifier.log)})


ROUTES: list[BaseRoute] = [
    Route("/v1/payins", create_payin, methods=["POST"]),
    Route("/v1/payouts", create_payout, methods=["POST"]),
    Route("/v1/refunds", create_refund, methods=["POST"]),
    Route("/v1/payins/{reference}/close", close_payin, methods=["POST"]),
    Route("/v1/statements/{day}", statement, methods=["GET"]),
    # After /v1/statements/{day}: routes match in order.
    Route("/v1/{kind}/{reference}", query, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/admin/faults", faults, methods=["GET", "PUT"]),
    Route("/admin/transactions", transactions, methods=["GET"]),
    Route("/admin/advance", advance, methods=["POST"]),
    Route("/admin/credits", receive_credit, methods=["POST"]),
    Route("/admin/returns/trigger", trigger_returns, methods=["POST"]),
    Route("/admin/notifications", notifications, methods=["GET"]),
]


# -- the app ----------------------------------------------------------------------------------


class HangMiddleware:
    """While FaultMix.hang is on, every non-admin request stalls hang_min_s..hang_max_s.

    The body is read first, so a request whose client gave up during the stall is still
    processed afterwards, as on a real node that hangs: the caller cannot know the result.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        bank: Bank | None = None
        if scope["type"] == "http" and not scope["path"].startswith("/admin"):
            bank = getattr(scope["app"].state, "bank", None)
        if bank is None or not bank.faults.hang:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        while not messages or messages[-1].get("more_body", False):
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
        await asyncio.sleep(bank.hang_delay_s())

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def create_bank_app(config: BankConfig, *, clock: Clock | None = None) -> Starlette:
    """The bank as an ASGI app; the store, keys and workers live as long as its lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bank = Bank(config, clock=clock)
        await bank.start()
        app.state.bank = bank
        try:
            yield
        finally:
            await bank.stop()

    return Starlette(routes=ROUTES, middleware=[Middleware(HangMiddleware)], lifespan=lifespan)
