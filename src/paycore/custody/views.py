"""What the HTTP API and the CLI show of the custody slice's objects: plain dicts."""

from __future__ import annotations

from typing import Any

from paycore.custody.model import (
    NEEDS_ATTENTION,
    CustodyBank,
    CutoffRun,
    DailyCheck,
    Deal,
    Receipt,
    SubAccount,
)


def bank_view(b: CustodyBank) -> dict[str, Any]:
    return {
        "name": b.name,
        "currency": b.currency,
        "products": list(b.products),
        "timezone": b.timezone,
        "cutoff": b.cutoff,
        "mode": b.mode.value,
    }


def subaccount_view(s: SubAccount) -> dict[str, Any]:
    return {
        "bank": s.bank,
        "merchant_id": s.merchant_id,
        "owner": s.owner,
        "role": s.role.value,
        "virtual_account": s.virtual_account,
        "account_id": s.account_id,
        "currency": s.currency,
        "balance": s.balance,
        "available": s.available,
    }


def receipt_view(r: Receipt) -> dict[str, Any]:
    return {
        "id": r.id,
        "bank": r.bank,
        "merchant_id": r.merchant_id,
        "owner": r.owner,
        "amount": r.amount,
        "currency": r.currency,
        "received_at": r.received_at.isoformat(),
        "business_date": r.business_date.isoformat(),
        "status": r.status.value,
        "deal_id": r.deal_id,
        "cutoff_step": r.cutoff_step.value if r.cutoff_step else None,
        "refund_id": r.refund_id,  # a refund, or for origin `statement` a payout
        "error": r.error,
        "origin": r.origin.value,
    }


def deal_view(d: Deal) -> dict[str, Any]:
    return {
        "id": d.id,
        "merchant_id": d.merchant_id,
        "bank": d.bank,
        "buyer": d.buyer,
        "seller": d.seller,
        "agency": d.agency,
        "deposit_amount": d.deposit_amount,
        "funded_amount": d.funded_amount,
        "currency": d.currency,
        "status": d.status,
        "commission": d.commission,
        "rest_to": d.rest_to.value if d.rest_to else None,
        "created_at": d.created_at.isoformat(),
        "closed_at": d.closed_at.isoformat() if d.closed_at else None,
    }


def run_view(run: CutoffRun) -> dict[str, Any]:
    return {
        "bank": run.bank,
        "business_date": run.business_date.isoformat(),
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "refunds": run.refunds,
        "complete": run.is_complete,
        "needs_attention": sum(1 for x in run.lines if x.outcome.startswith(NEEDS_ATTENTION)),
        "report_path": run.report_path,
        "lines": [
            {
                "receipt_id": line.receipt_id,
                "owner": line.owner,
                "amount": line.amount,
                "currency": line.currency,
                "received_at": line.received_at.isoformat(),
                "reason": line.reason,
                "refund_id": line.refund_id,
                "outcome": line.outcome,
            }
            for line in run.lines
        ],
    }


def check_view(c: DailyCheck) -> dict[str, Any]:
    return {
        "id": c.id,
        "bank": c.bank,
        "business_date": c.business_date.isoformat(),
        "subaccounts_total": c.subaccounts_total,
        "pool_balance": c.pool_balance,
        "bank_balance": c.bank_balance,
        "difference": c.difference,
        "ok": c.ok,
        "checked_at": c.checked_at.isoformat(),
    }
