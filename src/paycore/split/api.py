"""HTTP routes of the split slice: rules, splits, confirm, cancel and refunds after split."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from paycore import limits
from paycore.errors import Rejected
from paycore.payments.model import PRODUCT_PATTERN
from paycore.security.api import merchant_of, require
from paycore.security.model import Principal
from paycore.split.model import Share, SplitMode
from paycore.split.service import SPLITS_PAGE_MAX, Splits
from paycore.split.views import refund_view, rule_view, split_view
from paycore.wallets.model import OWNER_PATTERN
from paycore.web.bodies import JsonRoute, StrictBody

router = APIRouter(prefix="/v1", tags=["split"], route_class=JsonRoute)


async def get_splits(request: Request) -> Splits:
    splits: Splits = request.app.state.runtime.split
    return splits


SplitsDep = Annotated[Splits, Depends(get_splits)]
Reader = Annotated[Principal, Depends(require("payments:read"))]
Writer = Annotated[Principal, Depends(require("payments:write"))]
Amount = Annotated[int, Field(strict=True, gt=0, le=limits.PAYMENT_AMOUNT_MAX)]
Owner = Annotated[
    str, Field(min_length=1, max_length=32, json_schema_extra={"pattern": OWNER_PATTERN})
]
# Keys without the owner pattern in the document: a key pattern would become
# `patternProperties`, which leaves other keys unconstrained; the service checks owners.
PartOwner = Annotated[str, Field(min_length=1, max_length=32)]
Parts = Annotated[dict[PartOwner, Annotated[int, Field(strict=True, ge=0)]], Field(max_length=20)]


class ShareIn(StrictBody):
    owner: Owner
    bps: Annotated[int, Field(strict=True, ge=0, le=10_000)] = 0
    amount: Annotated[int, Field(strict=True, ge=0, le=limits.PAYMENT_AMOUNT_MAX)] = 0


class RuleIn(StrictBody):
    product: Annotated[
        str, Field(min_length=1, max_length=32, json_schema_extra={"pattern": PRODUCT_PATTERN})
    ]
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "CNY"
    mode: Literal["immediate", "delayed"] = "immediate"
    freeze_s: Annotated[int, Field(strict=True, ge=0)] = 0
    receivers: Annotated[list[ShareIn], Field(max_length=20)]
    commission_bps: Annotated[int, Field(strict=True, ge=0, le=10_000)] = 0
    commission_amount: Annotated[int, Field(strict=True, ge=0)] = 0
    merchant_id: str | None = None


class ConfirmIn(StrictBody):
    parts: Parts | None = None


class SplitRefundIn(StrictBody):
    amount: Amount
    parts: Parts | None = None
    reason: Annotated[str, Field(max_length=limits.DESCRIPTION_LENGTH_MAX)] = ""


@router.post("/split-rules", status_code=201)
async def create_rule(body: RuleIn, splits: SplitsDep, principal: Writer) -> dict[str, Any]:
    rule = await run_in_threadpool(
        lambda: splits.create_rule(
            merchant_id=merchant_of(principal, body.merchant_id),
            product=body.product,
            currency=body.currency,
            mode=SplitMode(body.mode),
            receivers=[Share(r.owner, r.bps, r.amount) for r in body.receivers],
            freeze_s=body.freeze_s,
            commission_bps=body.commission_bps,
            commission_amount=body.commission_amount,
        )
    )
    return rule_view(rule)


@router.get("/split-rules")
def list_rules(splits: SplitsDep, principal: Reader) -> dict[str, Any]:
    return {"data": [rule_view(r) for r in splits.rules(principal.merchant_id)]}


@router.delete("/split-rules/{rule_id}", status_code=204)
def retire_rule(
    rule_id: str, splits: SplitsDep, principal: Writer, merchant_id: str | None = None
) -> None:
    splits.retire_rule(merchant_id=merchant_of(principal, merchant_id), rule_id=rule_id)


@router.get("/splits")
def list_splits(
    splits: SplitsDep,
    principal: Reader,
    payin_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=SPLITS_PAGE_MAX)] = 50,
) -> dict[str, Any]:
    found = splits.list(merchant_id=principal.merchant_id, payin_id=payin_id, limit=limit)
    return {"data": [split_view(s) for s in found]}


@router.get("/splits/{split_id}")
def get_split(split_id: str, splits: SplitsDep, principal: Reader) -> dict[str, Any]:
    split = splits.get(merchant_id=principal.merchant_id, split_id=split_id)
    view = split_view(split)
    view["refunds"] = [
        refund_view(r) for r in splits.refunds_of(merchant_id=None, split_id=split_id)
    ]
    return view


@router.post("/splits/{split_id}/confirm")
def confirm(
    split_id: str, splits: SplitsDep, principal: Writer, body: ConfirmIn | None = None
) -> dict[str, Any]:
    parts = body.parts if body is not None else None
    split = splits.confirm(merchant_id=principal.merchant_id, split_id=split_id, parts=parts)
    return split_view(split)


@router.post("/splits/{split_id}/cancel")
def cancel(split_id: str, splits: SplitsDep, principal: Writer) -> dict[str, Any]:
    return split_view(splits.cancel(merchant_id=principal.merchant_id, split_id=split_id))


@router.post("/splits/{split_id}/refunds", status_code=201)
def refund(
    split_id: str,
    body: SplitRefundIn,
    splits: SplitsDep,
    principal: Writer,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, Any]:
    if not idempotency_key:
        raise Rejected("idempotency_key_missing", "send an Idempotency-Key header")
    if len(idempotency_key) > limits.IDEMPOTENCY_KEY_LENGTH_MAX:
        raise Rejected("idempotency_key_too_long", "at most 128 characters")
    done = splits.refund(
        merchant_id=principal.merchant_id,
        split_id=split_id,
        amount=body.amount,
        parts=body.parts,
        idempotency_key=idempotency_key,
        reason=body.reason,
    )
    return refund_view(done)
