"""What the HTTP API and the CLI show of the collection slice's objects: plain dicts."""

from __future__ import annotations

from typing import Any

from paycore.collection.collect import RunReport
from paycore.collection.model import (
    Attempt,
    Plan,
    ScheduleLine,
)


def plan_view(plan: Plan) -> dict[str, Any]:
    t = plan.terms
    return {
        "id": plan.id,
        "merchant_id": plan.merchant_id,
        "reference": plan.reference,
        "status": plan.status.value,
        "tenant": t.tenant,
        "landlord": t.landlord,
        "amount": t.amount,
        "currency": t.currency,
        "fee": plan.fee_amount,
        "fee_bps": t.fee_bps,
        "fee_fixed": t.fee_fixed,
        "landlord_net": plan.landlord_net,
        "due_day": t.due_day,
        "start_month": t.start_month.strftime("%Y-%m"),
        "periods": t.periods,
        "method": t.method.value,
        "card_number": plan.card_masked,
        "max_attempts": t.max_attempts,
        "retry_interval_s": t.retry_interval_s,
        "next_due_at": plan.next_due_at.isoformat() if plan.next_due_at else None,
        "created_at": plan.created_at.isoformat(),
    }


def attempt_view(a: Attempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "attempt_no": a.attempt_no,
        "status": a.status.value,
        "payin_id": a.payin_id,
        "failure_code": a.failure_code,
        "started_at": a.started_at.isoformat(),
        "finished_at": a.finished_at.isoformat() if a.finished_at else None,
    }


def line_view(line: ScheduleLine) -> dict[str, Any]:
    return {
        "period_no": line.period_no,
        "due_date": line.due_date.isoformat(),
        "amount": line.amount,
        "fee": line.fee,
        "landlord_net": line.landlord_net,
        "status": line.status.value,
        "next_attempt_at": line.next_attempt_at.isoformat() if line.next_attempt_at else None,
        "attempts": [attempt_view(a) for a in line.attempts],
    }


def report_view(report: RunReport) -> dict[str, Any]:
    return {
        "started": report.started,
        "retried": report.retried,
        "resumed": report.resumed,
        "errors": report.errors,
    }
