"""HTTP routes of the custody slice: banks, sub-accounts, receipts, deals, cut-offs, checks.

A merchant key sees and acts on its own sub-accounts, receipts and deals. Running a
cut-off or a daily check touches every merchant of a bank: platform keys only.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from paycore.custody.model import (
    ReceiptStatus,
    RestTo,
    Role,
)
from paycore.custody.service import Custody
from paycore.custody.views import (
    bank_view,
    check_view,
    deal_view,
    receipt_view,
    run_view,
    subaccount_view,
)
from paycore.errors import Rejected
from paycore.security.api import merchant_of, owner_filter, require
from paycore.security.model import Principal
from paycore.wallets.model import OWNER_PATTERN
from paycore.web.bodies import BusinessDate, JsonRoute, StrictBody

router = APIRouter(prefix="/v1/custody", tags=["custody"], route_class=JsonRoute)


async def get_custody(request: Request) -> Custody:
    custody: Custody = request.app.state.runtime.custody
    return custody


CustodyDep = Annotated[Custody, Depends(get_custody)]
Reader = Annotated[Principal, Depends(require("payments:read"))]
Writer = Annotated[Principal, Depends(require("payments:write"))]
Owner = Annotated[
    str, Field(min_length=1, max_length=32, json_schema_extra={"pattern": OWNER_PATTERN})
]
BankName = Annotated[str, Field(min_length=1, max_length=24)]
Amount = Annotated[int, Field(strict=True)]
"""Range rules are the service's, so HTTP and CLI refuse with the same codes."""


class SubAccountIn(StrictBody):
    bank: BankName
    owner: Owner
    role: Role
    virtual_account: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    merchant_id: str | None = None


class DealIn(StrictBody):
    bank: BankName
    buyer: Owner
    seller: Owner
    agency: Owner
    deposit_amount: Amount
    merchant_id: str | None = None


class MatchIn(StrictBody):
    receipt_id: Annotated[str, Field(min_length=1, max_length=64)]


class CloseIn(StrictBody):
    commission: Amount
    rest_to: RestTo = RestTo.SELLER


class CutoffIn(StrictBody):
    bank: BankName
    business_date: date


class CheckIn(StrictBody):
    bank: BankName
    business_date: date
    bank_balance: Annotated[int, Field(strict=True)] | None = None


def platform_only(principal: Principal) -> None:
    if principal.merchant_id is not None:
        raise Rejected("forbidden", "cut-offs and checks span every merchant: a platform key")


@router.get("/banks")
def list_banks(custody: CustodyDep, _principal: Reader) -> dict[str, Any]:
    return {"data": [bank_view(b) for b in custody.banks()]}


@router.post("/subaccounts", status_code=201)
def open_subaccount(body: SubAccountIn, custody: CustodyDep, principal: Writer) -> dict[str, Any]:
    found = custody.open_subaccount(
        merchant_of(principal, body.merchant_id),
        bank=body.bank,
        owner=body.owner,
        role=body.role,
        virtual_account=body.virtual_account,
    )
    return subaccount_view(found)


@router.get("/subaccounts")
def list_subaccounts(
    bank: str, custody: CustodyDep, principal: Reader, merchant_id: str | None = None
) -> dict[str, Any]:
    merchant = owner_filter(principal) or merchant_id
    return {"data": [subaccount_view(s) for s in custody.subaccounts(merchant, bank=bank)]}


@router.get("/receipts")
def list_receipts(
    custody: CustodyDep,
    principal: Reader,
    bank: str | None = None,
    business_date: BusinessDate | None = None,
    status: ReceiptStatus | None = None,
    merchant_id: str | None = None,
) -> dict[str, Any]:
    found = custody.receipts(
        owner_filter(principal) or merchant_id,
        bank=bank,
        business_date=business_date,
        status=status,
    )
    return {"data": [receipt_view(r) for r in found]}


@router.get("/receipts/{receipt_id}")
def get_receipt(receipt_id: str, custody: CustodyDep, principal: Reader) -> dict[str, Any]:
    return receipt_view(custody.get_receipt(owner_filter(principal), receipt_id))


@router.post("/deals", status_code=201)
def create_deal(body: DealIn, custody: CustodyDep, principal: Writer) -> dict[str, Any]:
    deal = custody.create_deal(
        merchant_of(principal, body.merchant_id),
        bank=body.bank,
        buyer=body.buyer,
        seller=body.seller,
        agency=body.agency,
        deposit_amount=body.deposit_amount,
    )
    return deal_view(deal)


@router.get("/deals")
def list_deals(
    custody: CustodyDep, principal: Reader, merchant_id: str | None = None
) -> dict[str, Any]:
    return {"data": [deal_view(d) for d in custody.deals(owner_filter(principal) or merchant_id)]}


@router.get("/deals/{deal_id}")
def get_deal(deal_id: str, custody: CustodyDep, principal: Reader) -> dict[str, Any]:
    return deal_view(custody.get_deal(owner_filter(principal), deal_id))


@router.post("/deals/{deal_id}/match")
def match(deal_id: str, body: MatchIn, custody: CustodyDep, principal: Writer) -> dict[str, Any]:
    receipt = custody.match(owner_filter(principal), receipt_id=body.receipt_id, deal_id=deal_id)
    return receipt_view(receipt)


@router.post("/deals/{deal_id}/close")
def close(deal_id: str, body: CloseIn, custody: CustodyDep, principal: Writer) -> dict[str, Any]:
    deal = custody.close_deal(
        owner_filter(principal), deal_id=deal_id, commission=body.commission, rest_to=body.rest_to
    )
    return deal_view(deal)


@router.post("/cutoffs")
def run_cutoff(body: CutoffIn, custody: CustodyDep, principal: Writer) -> dict[str, Any]:
    platform_only(principal)
    return run_view(custody.run_cutoff(body.bank, body.business_date))


@router.get("/cutoffs")
def list_cutoffs(bank: str, custody: CustodyDep, principal: Reader) -> dict[str, Any]:
    platform_only(principal)
    runs = custody.cutoff_runs(bank)
    return {"data": [{**r, "business_date": r["business_date"].isoformat()} for r in runs]}


@router.get("/cutoffs/{bank}/{business_date}")
def show_cutoff(
    bank: str, business_date: BusinessDate, custody: CustodyDep, principal: Reader
) -> dict[str, Any]:
    platform_only(principal)
    return run_view(custody.cutoff_report(bank, business_date))


@router.post("/checks")
def daily_check(body: CheckIn, custody: CustodyDep, principal: Writer) -> dict[str, Any]:
    platform_only(principal)
    check = custody.daily_check(body.bank, body.business_date, bank_balance=body.bank_balance)
    return check_view(check)


@router.get("/checks")
def list_checks(bank: str, custody: CustodyDep, principal: Reader) -> dict[str, Any]:
    platform_only(principal)
    return {"data": [check_view(c) for c in custody.checks(bank)]}
