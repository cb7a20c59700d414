"""What the HTTP API and the CLI show of the rewards slice's objects: plain dicts."""

from __future__ import annotations

from typing import Any

from paycore.rewards.model import (
    BatchSummary,
    BudgetBalance,
    RowOutcome,
)


def budget_view(b: BudgetBalance) -> dict[str, Any]:
    return {
        "id": b.budget.id,
        "merchant_id": b.budget.merchant_id,
        "name": b.budget.name,
        "currency": b.budget.currency,
        "account_id": b.budget.account_id,
        "row_amount_max": b.budget.row_amount_max,
        "recipient_total_max": b.budget.recipient_total_max,
        "balance": b.balance,
        "funded": b.funded,
        "spent": b.spent,
        "created_at": b.budget.created_at.isoformat(),
    }


def batch_view(s: BatchSummary) -> dict[str, Any]:
    return {
        "id": s.id,
        "merchant_id": s.merchant_id,
        "budget_id": s.budget_id,
        "currency": s.currency,
        "file_sha256": s.file_sha256,
        "rows": s.rows,
        "counts": dict(s.counts),
        "paid_amount": s.paid_amount,
        "retryable_rows": s.retryable_rows,
        "runs": s.runs,
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
    }


def row_view(r: RowOutcome) -> dict[str, Any]:
    return {
        "position": r.position,
        "row": r.row,
        "recipient": r.recipient,
        "amount": r.amount,
        "amount_text": r.amount_text,
        "note": r.note,
        "status": r.status,
        "reason": r.reason,
        "retryable": r.retryable,
        "attempt": r.attempt,
        "transfer_id": r.transfer_id,
    }
