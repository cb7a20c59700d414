"""HTTP routes for merchants and their API keys. Secrets appear in a response only once,
with `Cache-Control: no-store`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from paycore.errors import Rejected
from paycore.merchants.model import (
    FEE_BPS_MAX,
    MERCHANTS_PAGE_DEFAULT,
    MERCHANTS_PAGE_MAX,
    NAME_LENGTH_MAX,
    WEBHOOK_URL_LENGTH_MAX,
    Merchant,
)
from paycore.merchants.service import Merchants
from paycore.security.api import authenticated, require
from paycore.security.model import LABEL_LENGTH_MAX, Principal, Scope
from paycore.security.service import ApiKeys
from paycore.web.bodies import JsonRoute, StrictBody

router = APIRouter(prefix="/v1", tags=["merchants"], route_class=JsonRoute)

Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Caller = Annotated[Principal, Depends(authenticated)]


async def get_merchants(request: Request) -> Merchants:
    merchants: Merchants = request.app.state.merchants
    return merchants


async def get_api_keys(request: Request) -> ApiKeys:
    api_keys: ApiKeys = request.app.state.api_keys
    return api_keys


MerchantsDep = Annotated[Merchants, Depends(get_merchants)]
ApiKeysDep = Annotated[ApiKeys, Depends(get_api_keys)]


class MerchantIn(StrictBody):
    id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    name: Annotated[str, Field(min_length=1, max_length=NAME_LENGTH_MAX)]
    fee_bps: Annotated[int, Field(strict=True, ge=0, le=FEE_BPS_MAX)] = 0
    webhook_url: Annotated[str | None, Field(max_length=WEBHOOK_URL_LENGTH_MAX)] = None


class MerchantOut(BaseModel):
    id: str
    name: str
    status: str
    fee_bps: int
    webhook_url: str | None
    created_at: datetime

    @classmethod
    def of(cls, m: Merchant) -> MerchantOut:
        return cls(
            id=m.id,
            name=m.name,
            status=m.status.value,
            fee_bps=m.fee_bps,
            webhook_url=m.webhook_url,
            created_at=m.created_at,
        )


class MerchantCreatedOut(BaseModel):
    merchant: MerchantOut
    webhook_secret: Annotated[
        str, Field(description="signs this merchant's webhooks; shown only in this response")
    ]


class MerchantPageOut(BaseModel):
    merchants: list[MerchantOut]
    next_cursor: str | None


class ApiKeyIn(StrictBody):
    scopes: Annotated[
        list[str] | None,
        Field(description="default: payments:read payments:write payouts:write refunds:write"),
    ] = None
    label: Annotated[str, Field(max_length=LABEL_LENGTH_MAX)] = ""


class ApiKeyCreatedOut(BaseModel):
    key: Annotated[str, Field(description="the API key; shown only in this response")]
    key_id: str
    merchant_id: str
    scopes: list[str]


@router.post("/merchants", status_code=201, response_model=MerchantCreatedOut)
def create_merchant(
    body: MerchantIn, _admin: Admin, merchants: MerchantsDep, response: Response
) -> MerchantCreatedOut:
    merchant, secret = merchants.create(
        name=body.name, fee_bps=body.fee_bps, webhook_url=body.webhook_url, merchant_id=body.id
    )
    response.headers["Cache-Control"] = "no-store"
    return MerchantCreatedOut(merchant=MerchantOut.of(merchant), webhook_secret=secret)


@router.get("/merchants", response_model=MerchantPageOut)
def list_merchants(
    _admin: Admin,
    merchants: MerchantsDep,
    limit: Annotated[int, Query(ge=1, le=MERCHANTS_PAGE_MAX)] = MERCHANTS_PAGE_DEFAULT,
    after: str | None = None,
) -> MerchantPageOut:
    page = merchants.list(limit=limit, after=after)
    cursor = page[-1].id if len(page) == limit else None
    return MerchantPageOut(merchants=[MerchantOut.of(m) for m in page], next_cursor=cursor)


@router.get("/merchants/{merchant_id}", response_model=MerchantOut)
def get_merchant(merchant_id: str, caller: Caller, merchants: MerchantsDep) -> MerchantOut:
    """An admin key sees every merchant; a merchant's key sees only its own (others: 404)."""
    visible = caller.is_admin or caller.merchant_id == merchant_id
    merchant = merchants.get(merchant_id) if visible else None
    if merchant is None:
        raise Rejected("merchant_not_found", f"no merchant {merchant_id}")
    return MerchantOut.of(merchant)


@router.post("/merchants/{merchant_id}/api-keys", status_code=201, response_model=ApiKeyCreatedOut)
def create_api_key(
    merchant_id: str,
    body: ApiKeyIn,
    _admin: Admin,
    merchants: MerchantsDep,
    api_keys: ApiKeysDep,
    response: Response,
) -> ApiKeyCreatedOut:
    if merchants.get(merchant_id) is None:
        raise Rejected("merchant_not_found", f"no merchant {merchant_id}")
    key, clear = api_keys.issue(merchant_id=merchant_id, scopes=body.scopes, label=body.label)
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreatedOut(
        key=clear, key_id=key.id, merchant_id=merchant_id, scopes=sorted(key.scopes)
    )
