"""HTTP routes of finance (admin keys only): vouchers, derivation, reconciliation, status."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParameter
from starlette.concurrency import run_in_threadpool

from paycore.finance.service import Finance
from paycore.security.api import require
from paycore.security.model import Principal, Scope
from paycore.web.bodies import JsonRoute

router = APIRouter(prefix="/v1/finance", tags=["finance"], route_class=JsonRoute)


async def get_finance(request: Request) -> Finance:
    finance: Finance = request.app.state.runtime.finance
    return finance


FinanceDep = Annotated[Finance, Depends(get_finance)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Day = Annotated[date, PathParameter(description="business day, YYYY-MM-DD (China time)")]
VoucherId = Annotated[str, PathParameter(min_length=1, max_length=64)]


@router.get("/vouchers")
async def list_vouchers(
    finance: FinanceDep,
    _admin: Admin,
    day: Annotated[date, Query(alias="date", description="business day, YYYY-MM-DD")],
) -> dict[str, Any]:
    """The day's vouchers (without lines) and their push state."""
    found = await run_in_threadpool(finance.vouchers, day)
    return {"business_date": day.isoformat(), "data": [r.view(lines=False) for r in found]}


@router.get("/vouchers/{voucher_id}")
async def get_voucher(finance: FinanceDep, _admin: Admin, voucher_id: VoucherId) -> dict[str, Any]:
    """One voucher with its lines, body hash and push state."""
    found = await run_in_threadpool(finance.voucher, voucher_id)
    return found.view(lines=True)


@router.post("/days/{day}/derive")
async def derive_day(finance: FinanceDep, _admin: Admin, day: Day) -> dict[str, Any]:
    """Derive a finished day (and the underived days before it); a derived day is derived
    again and compared: `written` 0, or 409 `finance_voucher_conflict`."""
    result = await run_in_threadpool(finance.derive_day, day)
    return result.view()


@router.post("/days/{day}/reconcile")
async def reconcile_day(finance: FinanceDep, _admin: Admin, day: Day) -> dict[str, Any]:
    """Reconcile a derived day now against the ledger and the finance system."""
    found = await run_in_threadpool(finance.reconcile_day, day)
    return found.view()


@router.get("/days/{day}/reconciliation")
async def reconciliation(finance: FinanceDep, _admin: Admin, day: Day) -> dict[str, Any]:
    """The day's last recorded reconciliation: `ok` with 0 breaks, `breaks`, `pending`."""
    found = await run_in_threadpool(finance.reconciliation, day)
    return found.view()


@router.get("/status")
async def status(finance: FinanceDep, _admin: Admin) -> dict[str, Any]:
    """How far behind finance is (`Finance.backlog`): finished days not derived, vouchers
    not pushed or refused, days that do not reconcile; `behind` says it in words."""
    found = await run_in_threadpool(finance.backlog)
    return found.view() | {"behind": found.reasons(age_s=0)}
