"""The sandbox finance system's HTTP API: signed /vouchers for paycore, unsigned /admin.

| endpoint | does |
|---|---|
| `POST /vouchers` | book a voucher document once by id: 200 `{"acks": [...]}` |
| `GET /vouchers?business_date=YYYY-MM-DD` | what was booked that day (signed, empty body) |
| `GET /health` | unsigned liveness |
| `GET|PUT /admin/faults` | the fault mix (PUT changes only the fields given) |
| `GET /admin/receipts` | voucher id -> {booked, duplicate, conflict: count} |

Plain Starlette routes, as in the sandbox bank: the signature covers the exact body
bytes, so handlers read the raw body and answer in the receiver's own error format
`{"error": code, "message": ...}` rather than through FastAPI's validation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from paycore import strict_json
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.sandbox_finance import model
from paycore.sandbox_finance.service import (
    FailedAfterStore,
    FinanceReceiver,
    ReceiverConfig,
    ReceiverDown,
)

_STATUS_BY_CODE = {
    model.INVALID_VOUCHER: 400,
    model.BAD_SIGNATURE: 401,
    model.STALE_SIGNATURE: 401,
    model.UNKNOWN_KEY: 401,
    model.VOUCHER_CONFLICT: 409,
    "body_too_large": 413,
    model.VOUCHER_UNBALANCED: 422,
    model.BODY_HASH_MISMATCH: 422,
    model.FAILED_AFTER_STORE: 500,
    model.RECEIVER_DOWN: 503,
}


def _receiver(request: Request) -> FinanceReceiver:
    receiver: FinanceReceiver = request.app.state.receiver
    return receiver


def _json(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type="application/json")


def _error(code: str, message: str) -> Response:
    return _json({"error": code, "message": message}, _STATUS_BY_CODE.get(code, 400))


async def _signed_body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > model.BODY_BYTES_MAX:
        raise Rejected("body_too_large", f"the body is over {model.BODY_BYTES_MAX} bytes")
    _receiver(request).authenticate(request.headers, body)
    return body


async def post_voucher(request: Request) -> Response:
    """Book one voucher; the same id and body again is answered `duplicate`."""
    receiver = _receiver(request)
    try:
        answer = receiver.receive(await _signed_body(request))
    except Rejected as exc:
        return _error(exc.code, exc.detail)
    except ReceiverDown as exc:
        return _error(model.RECEIVER_DOWN, str(exc))
    except FailedAfterStore as exc:
        return _error(model.FAILED_AFTER_STORE, str(exc))
    if answer.slow_s:
        await asyncio.sleep(answer.slow_s)
    return _json({"acks": list(answer.acks)})


async def list_vouchers(request: Request) -> Response:
    """The vouchers booked on `business_date`, by id, with their body hash."""
    try:
        await _signed_body(request)
        try:
            day = date.fromisoformat(request.query_params.get("business_date", ""))
        except ValueError as exc:
            raise Rejected(model.INVALID_VOUCHER, "business_date must be YYYY-MM-DD") from exc
    except Rejected as exc:
        return _error(exc.code, exc.detail)
    receiver = _receiver(request)
    if receiver.down:
        return _error(model.RECEIVER_DOWN, "the finance system is down")
    return _json({"business_date": day.isoformat(), "vouchers": receiver.booked(day)})


async def health(_request: Request) -> Response:
    return _json({"status": "ok"})


async def faults(request: Request) -> Response:
    receiver = _receiver(request)
    if request.method == "GET":
        return _json(receiver.faults.as_dict())
    try:
        changes = strict_json.loads(await request.body())
        if not isinstance(changes, dict):
            raise Rejected(model.INVALID_VOUCHER, "the body must be a JSON object")
        mix = receiver.set_faults(changes)
    except Rejected as exc:
        return _json({"error": exc.code, "message": exc.detail}, 400)
    return _json(mix.as_dict())


async def receipts(request: Request) -> Response:
    return _json(_receiver(request).receipts())


ROUTES: list[BaseRoute] = [
    Route("/vouchers", post_voucher, methods=["POST"]),
    Route("/vouchers", list_vouchers, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/admin/faults", faults, methods=["GET", "PUT"]),
    Route("/admin/receipts", receipts, methods=["GET"]),
]


def create_finance_app(config: ReceiverConfig, *, clock: Clock | None = None) -> Starlette:
    """The receiver as an ASGI app; its store lives as long as the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        receiver = FinanceReceiver(config, clock=clock)
        app.state.receiver = receiver
        try:
            yield
        finally:
            receiver.close()

    return Starlette(routes=ROUTES, lifespan=lifespan)
