"""What the HTTP API and the CLI show of the split slice's objects: plain dicts."""

from __future__ import annotations

from typing import Any

from paycore.split.model import Rule, Split


def rule_view(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "merchant_id": rule.merchant_id,
        "product": rule.product,
        "currency": rule.currency,
        "mode": rule.mode.value,
        "freeze_s": rule.freeze_s,
        "receivers": [{"owner": r.owner, "bps": r.bps, "amount": r.amount} for r in rule.receivers],
        "commission_bps": rule.commission_bps,
        "commission_amount": rule.commission_amount,
        "created_at": rule.created_at.isoformat() if rule.created_at else None,
    }


def split_view(split: Split) -> dict[str, Any]:
    return {
        "id": split.id,
        "merchant_id": split.merchant_id,
        "payin_id": split.payin_id,
        "rule_id": split.rule_id,
        "currency": split.currency,
        "mode": split.mode.value,
        "status": split.status.value,
        "failure_code": split.failure_code,
        "payin_amount": split.payin_amount,
        "base": split.base,
        "refunded": split.refunded,
        "expires_at": split.expires_at.isoformat() if split.expires_at else None,
        "legs": [
            {
                "receiver": leg.owner or "platform_commission",
                "amount": leg.amount,
                "state": leg.state.value,
                "frozen": leg.frozen,
                "received": leg.received,
                "clawed_back": leg.clawed,
            }
            for leg in split.legs
        ],
        "created_at": split.created_at.isoformat(),
    }


def refund_view(refund: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": refund["id"],
        "split_id": refund["split_id"],
        "amount": refund["amount"],
        "status": refund["status"],
        "failure_code": refund["failure_code"],
        "refund_order_id": refund["refund_order_id"],
        "claws": refund["claws"],
    }
