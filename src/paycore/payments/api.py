"""HTTP routes for pay-ins, payouts, refunds, channel callbacks and success rates."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from paycore import limits
from paycore.channels.model import BankAccount, Payer
from paycore.errors import Rejected
from paycore.ledger.model import metadata_too_large
from paycore.payments.model import PRODUCT_PATTERN, REFERENCE_PATTERN, OrderKind, OrderStatus
from paycore.payments.service import (
    Created,
    PayinCommand,
    Payments,
    PayoutCommand,
    RefundCommand,
)
from paycore.payments.views import order_view
from paycore.security.api import require
from paycore.security.model import Principal
from paycore.web.blocking import run_blocking
from paycore.web.bodies import BusinessDate, JsonRoute, StrictBody
from paycore.web.fastlane import Lane, LaneRequest
from paycore.web.openapi import CHANNEL_ERRORS, raw_body
from paycore.web.problems import problem

router = APIRouter(prefix="/v1", tags=["payments"], route_class=JsonRoute)


async def get_payments(request: Request) -> Payments:
    # async: a plain def would send every request through the thread pool once more.
    payments: Payments = request.app.state.payments
    return payments


PaymentsDep = Annotated[Payments, Depends(get_payments)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="reuse it on every retry of the same request"),
]
# The maximum is the service's rule (`amount_too_large`, as in the CLI); shown in the schema.
Amount = Annotated[
    int, Field(strict=True, gt=0, json_schema_extra={"maximum": limits.PAYMENT_AMOUNT_MAX})
]
Text = Annotated[str, Field(max_length=limits.DESCRIPTION_LENGTH_MAX)]
Reference = Annotated[
    str, Field(min_length=1, max_length=64, json_schema_extra={"pattern": REFERENCE_PATTERN})
]
# Checked by validators of their own, for the stable codes; the document shows the patterns.
_CARD_PATTERN = "^[0-9]{12,19}$"
_ACCOUNT_PATTERN = "^[A-Za-z0-9]{4,34}$"
_CARD_NUMBER = re.compile(_CARD_PATTERN)
_ACCOUNT_NUMBER = re.compile(_ACCOUNT_PATTERN)


def _card_number(value: str) -> str:
    if not _CARD_NUMBER.fullmatch(value):
        raise PydanticCustomError("invalid_card_number", "card_number is 12-19 digits 0-9")
    return value


def _account_number(value: str) -> str:
    if not _ACCOUNT_NUMBER.fullmatch(value):
        raise PydanticCustomError(
            "invalid_account_number", "account_number is 4-34 letters A-Z or digits 0-9"
        )
    return value


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    if metadata_too_large(value):
        raise PydanticCustomError(
            "metadata_too_large",
            "metadata is over {limit} bytes",
            {"limit": limits.METADATA_BYTES_MAX},
        )
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_metadata)]


class PayerIn(StrictBody):
    card_number: Annotated[
        str,
        Field(examples=["6222020000000000000"], json_schema_extra={"pattern": _CARD_PATTERN}),
        AfterValidator(_card_number),
    ]
    name: Annotated[str, Field(max_length=64)] = ""
    id_number: Annotated[str, Field(max_length=32)] = ""
    phone: Annotated[str, Field(max_length=20)] = ""


class PayinIn(StrictBody):
    product: Annotated[
        str, Field(min_length=1, max_length=32, json_schema_extra={"pattern": PRODUCT_PATTERN})
    ]
    amount: Amount
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    payer: PayerIn
    description: Text = ""
    merchant_reference: Reference | None = None
    expires_in_s: Annotated[int, Field(strict=True)] | None = None
    metadata: Metadata = Field(default_factory=dict)


class BeneficiaryIn(StrictBody):
    account_number: Annotated[
        str, Field(json_schema_extra={"pattern": _ACCOUNT_PATTERN}), AfterValidator(_account_number)
    ]
    name: Annotated[str, Field(max_length=64)]  # blank: missing_beneficiary_name
    bank_code: Annotated[str, Field(max_length=16)] = ""


class PayoutIn(StrictBody):
    amount: Amount
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    beneficiary: BeneficiaryIn
    product: Annotated[
        str, Field(min_length=1, max_length=32, json_schema_extra={"pattern": PRODUCT_PATTERN})
    ] = "payout"
    description: Text = ""
    merchant_reference: Reference | None = None
    metadata: Metadata = Field(default_factory=dict)


class RefundIn(StrictBody):
    amount: Amount
    reason: Text = ""
    merchant_reference: Reference | None = None


def _merchant_of(principal: Principal) -> str:
    if principal.merchant_id is None:
        raise Rejected("merchant_key_required", "payments are created with a merchant's API key")
    return principal.merchant_id


def _key(value: str | None) -> str:
    if not value:
        raise Rejected("idempotency_key_missing", "send an Idempotency-Key header")
    if len(value) > limits.IDEMPOTENCY_KEY_LENGTH_MAX:
        raise Rejected("idempotency_key_too_long", "at most 128 characters")
    return value


def _answer(created: Created) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if created.replayed else {}
    if created.status_code < 400:
        return JSONResponse(dict(created.body), status_code=created.status_code, headers=headers)
    # A stored refusal (e.g. insufficient_balance) replays as the same problem document the
    # first request got: type, title, code, detail, and an instance naming this request.
    stored = {k: v for k, v in created.body.items() if k not in ("status", "code", "detail")}
    code = str(created.body.get("code", "refused"))
    response = problem(created.status_code, code, str(created.body.get("detail", code)), **stored)
    response.headers.update(headers)
    return response


@router.post("/payins", status_code=201)
def create_payin(
    body: PayinIn,
    payments: PaymentsDep,
    principal: Annotated[Principal, Depends(require("payments:write"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _create_payin(payments, principal, body, idempotency_key)


def _create_payin(
    payments: Payments, principal: Principal, body: PayinIn, idempotency_key: str | None
) -> JSONResponse:
    command = PayinCommand(
        merchant_id=_merchant_of(principal),
        product=body.product,
        amount=body.amount,
        currency=body.currency,
        payer=Payer(**body.payer.model_dump()),
        description=body.description,
        merchant_reference=body.merchant_reference,
        expires_in_s=body.expires_in_s,
        metadata=body.metadata,
    )
    return _answer(payments.create_payin(command, idempotency_key=_key(idempotency_key)))


@router.post("/payouts", status_code=201)
def create_payout(
    body: PayoutIn,
    payments: PaymentsDep,
    principal: Annotated[Principal, Depends(require("payouts:write"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _create_payout(payments, principal, body, idempotency_key)


def _create_payout(
    payments: Payments, principal: Principal, body: PayoutIn, idempotency_key: str | None
) -> JSONResponse:
    command = PayoutCommand(
        merchant_id=_merchant_of(principal),
        amount=body.amount,
        currency=body.currency,
        beneficiary=BankAccount(**body.beneficiary.model_dump()),
        product=body.product,
        description=body.description,
        merchant_reference=body.merchant_reference,
        metadata=body.metadata,
    )
    return _answer(payments.create_payout(command, idempotency_key=_key(idempotency_key)))


@router.post("/payins/{payin_id}/refunds", status_code=201)
def create_refund(
    payin_id: str,
    body: RefundIn,
    payments: PaymentsDep,
    principal: Annotated[Principal, Depends(require("refunds:write"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = RefundCommand(
        merchant_id=_merchant_of(principal),
        payin_id=payin_id,
        amount=body.amount,
        reason=body.reason,
        merchant_reference=body.merchant_reference,
    )
    return _answer(payments.create_refund(command, idempotency_key=_key(idempotency_key)))


# The channel is asked to close it, and a channel that is down or silent is 503/504.
@router.post("/payins/{payin_id}/close", responses=CHANNEL_ERRORS)
def close_payin(
    payin_id: str,
    payments: PaymentsDep,
    principal: Annotated[Principal, Depends(require("payments:write"))],
) -> dict[str, Any]:
    return order_view(payments.close_payin(merchant_id=principal.merchant_id, payin_id=payin_id))


def _getter(kind: OrderKind) -> Any:
    def get_order(
        order_id: str,
        payments: PaymentsDep,
        principal: Annotated[Principal, Depends(require("payments:read"))],
    ) -> dict[str, Any]:
        order = payments.get(merchant_id=principal.merchant_id, order_id=order_id, kind=kind)
        view = order_view(order)
        view["attempts"] = [
            {k: _plain(v) for k, v in a.items() if k not in ("merchant_id", "order_id")}
            for a in payments.attempts(order.id)
        ]
        return view

    return get_order


def _lister(kind: OrderKind) -> Any:
    def list_orders(
        payments: PaymentsDep,
        principal: Annotated[Principal, Depends(require("payments:read"))],
        limit: Annotated[int, Query(ge=1, le=limits.ORDERS_PAGE_MAX)] = limits.ORDERS_PAGE_DEFAULT,
        after: str | None = None,
        status: OrderStatus | None = None,
    ) -> dict[str, Any]:
        orders = payments.list_orders(
            merchant_id=principal.merchant_id, kind=kind, limit=limit, after=after, status=status
        )
        next_cursor = orders[-1].id if len(orders) == limit else None
        return {"data": [order_view(o) for o in orders], "next_cursor": next_cursor}

    return list_orders


for _kind, _path in ((OrderKind.PAYIN, "payins"), (OrderKind.PAYOUT, "payouts")):
    router.add_api_route(f"/{_path}/{{order_id}}", _getter(_kind), methods=["GET"])
    router.add_api_route(f"/{_path}", _lister(_kind), methods=["GET"])
router.add_api_route("/refunds/{order_id}", _getter(OrderKind.REFUND), methods=["GET"])


@router.get("/payins/{payin_id}/refunds")
def list_refunds(
    payin_id: str,
    payments: PaymentsDep,
    principal: Annotated[Principal, Depends(require("payments:read"))],
) -> dict[str, Any]:
    payments.get(merchant_id=principal.merchant_id, order_id=payin_id, kind=OrderKind.PAYIN)
    refunds = payments.list_orders(
        merchant_id=principal.merchant_id,
        kind=OrderKind.REFUND,
        parent_id=payin_id,
        limit=limits.ORDERS_PAGE_MAX,
    )
    return {"data": [order_view(o) for o in refunds]}


@router.post(
    "/channels/{channel}/notifications",
    tags=["channels"],
    openapi_extra=raw_body("application/json", schema={"type": "object"}),
)
async def channel_callback(channel: str, request: Request, payments: PaymentsDep) -> JSONResponse:
    """A channel's asynchronous result. Authenticated by the channel's signature, not a key."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await _handle_callback(payments, channel, headers, body)


async def _handle_callback(
    payments: Payments, channel: str, headers: dict[str, str], body: bytes
) -> JSONResponse:
    await run_blocking(payments.handle_callback, channel=channel, headers=headers, body=body)
    return JSONResponse({"received": True})


@router.get("/stats/success-rates")
def success_rates(
    payments: PaymentsDep,
    principal: Annotated[Principal, Depends(require("payments:read"))],
    date_from: BusinessDate,
    date_to: BusinessDate,
    product: str | None = None,
    channel: str | None = None,
    kind: OrderKind | None = None,
    per: Literal["attempt", "order"] = "attempt",
) -> dict[str, Any]:
    """Raw and effective success rates per product, channel and business day. Effective
    leaves out failures the payer or the merchant caused. `per=attempt` (default) judges
    each channel; `per=order` counts each order once by its outcome (channel `*`), so a
    failover that succeeded is a success: the SLO view."""
    rows = payments.success_rates(
        date_from=date_from,
        date_to=date_to,
        merchant_id=principal.merchant_id,
        product=product,
        channel=channel,
        kind=kind.value if kind else None,
        per_order=per == "order",
    )
    return {
        "data": [
            {
                "day": r.day,
                "kind": r.kind,
                "product": r.product,
                "channel": r.channel,
                "succeeded": r.succeeded,
                "failed": {
                    "user": r.failed_user,
                    "merchant": r.failed_merchant,
                    "channel": r.failed_channel,
                    "system": r.failed_system,
                },
                "unresolved": r.unresolved,
                "unavailable": r.unavailable,
                "raw_rate": r.raw_rate,
                "effective_rate": r.effective_rate,
            }
            for r in rows
        ]
    }


@router.get("/balances")
def balances(
    payments: PaymentsDep,
    principal: Annotated[Principal, Depends(require("payments:read"))],
) -> dict[str, Any]:
    """The merchant's wallet per currency: what it can pay out or refund."""
    return {"data": payments.balances(_merchant_of(principal))}


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


# -- the fast lane (web/fastlane.py): the same handlers, one thread-pool hop for the work ----


def _idempotency_key(request: LaneRequest) -> str | None:
    value = request.headers.get(b"idempotency-key")  # the first, as the route's Header reads
    return None if value is None else value.decode("latin-1")


def _create_lane(create: Callable[[Payments, Principal, Any, str | None], Response]) -> Any:
    """A create route's lane: the route's own create, given what the route's dependencies
    would have given it (the lane has checked the key's scope and read the body)."""

    async def lane(request: LaneRequest) -> Response:
        assert request.principal is not None  # the lane requires the route's scope
        return await run_blocking(
            create, request.state.payments, request.principal, request.body,
            _idempotency_key(request),
        )  # fmt: skip

    return lane


async def _callback_lane(request: LaneRequest) -> Response:
    # As the route reads them: every header, names in lower case, the last of a name wins.
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in request.scope["headers"]
    }
    channel = request.path_params["channel"]
    return await _handle_callback(request.state.payments, channel, headers, request.body)


LANES = [
    Lane("POST", "/v1/payins", _create_lane(_create_payin), scope="payments:write", body=PayinIn),
    Lane("POST", "/v1/payouts", _create_lane(_create_payout), scope="payouts:write", body=PayoutIn),
    Lane("POST", "/v1/channels/{channel}/notifications", _callback_lane),
]
"""Pay-in and payout creation and the channels' callbacks, in the web app's fast lane."""
