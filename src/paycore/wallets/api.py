"""HTTP routes of wallets: open, read, statement, top up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from paycore import limits
from paycore.security.api import merchant_of, require
from paycore.security.model import Principal
from paycore.wallets.model import OWNER_PATTERN
from paycore.wallets.service import Wallets
from paycore.wallets.views import entry_view, wallet_view
from paycore.web.bodies import JsonRoute, StrictBody

router = APIRouter(prefix="/v1/wallets", tags=["wallets"], route_class=JsonRoute)


async def get_wallets(request: Request) -> Wallets:
    wallets: Wallets = request.app.state.runtime.wallets
    return wallets


WalletsDep = Annotated[Wallets, Depends(get_wallets)]
Reader = Annotated[Principal, Depends(require("payments:read"))]
Writer = Annotated[Principal, Depends(require("payments:write"))]
Owner = Annotated[
    str, Field(min_length=1, max_length=32, json_schema_extra={"pattern": OWNER_PATTERN})
]
Currency = Annotated[str, Field(min_length=3, max_length=3)]


class WalletIn(StrictBody):
    owner: Owner
    currency: Currency
    allow_negative: Annotated[bool, Field(strict=True)] = False  # not 0, 1 or "yes"
    merchant_id: str | None = None


class TopUpIn(StrictBody):
    amount: Annotated[int, Field(strict=True, gt=0)]
    reference: Annotated[str, Field(min_length=1, max_length=64)]
    merchant_id: str | None = None


@router.post("", status_code=201)
async def open_wallet(body: WalletIn, wallets: WalletsDep, principal: Writer) -> dict[str, Any]:
    merchant = merchant_of(principal, body.merchant_id)
    wallet = await run_in_threadpool(
        wallets.open, merchant, body.owner, body.currency, allow_negative=body.allow_negative
    )
    return wallet_view(wallet)


@router.get("/{owner}")
def list_wallets(
    owner: str, wallets: WalletsDep, principal: Reader, merchant_id: str | None = None
) -> dict[str, Any]:
    found = wallets.list(merchant_of(principal, merchant_id), owner)
    return {"data": [wallet_view(w) for w in found]}


@router.get("/{owner}/{currency}")
def get_wallet(
    owner: str,
    currency: str,
    wallets: WalletsDep,
    principal: Reader,
    merchant_id: str | None = None,
) -> dict[str, Any]:
    return wallet_view(wallets.get(merchant_of(principal, merchant_id), owner, currency))


@router.get("/{owner}/{currency}/entries")
def wallet_entries(
    owner: str,
    currency: str,
    wallets: WalletsDep,
    principal: Reader,
    merchant_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=limits.ENTRIES_PAGE_MAX)] = limits.ENTRIES_PAGE_DEFAULT,
    after: str | None = None,
    debts: bool = False,
) -> dict[str, Any]:
    """The wallet's statement, newest first; `debts=true` shows its receivable instead."""
    page = wallets.statement(
        merchant_of(principal, merchant_id), owner, currency, limit=limit, after=after, debts=debts
    )
    return {"data": [entry_view(e) for e in page.entries], "next_cursor": page.next_cursor}


@router.post("/{owner}/{currency}/top-ups", status_code=201)
async def top_up(
    owner: str, currency: str, body: TopUpIn, wallets: WalletsDep, principal: Writer
) -> dict[str, Any]:
    """From the merchant's wallet to its user's; idempotent by `reference`."""
    merchant = merchant_of(principal, body.merchant_id)
    transfer_id = await run_in_threadpool(
        wallets.top_up, merchant, owner, currency, amount=body.amount, reference=body.reference
    )
    wallet = await run_in_threadpool(wallets.get, merchant, owner, currency)
    return {"transfer_id": transfer_id, "wallet": wallet_view(wallet)}
