"""How an order looks from outside: the JSON a merchant gets, with personal data masked.

The same function renders API responses, stored idempotent replays, webhook payloads
and CLI output, so they can never disagree. Pure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paycore.payments.model import Order, OrderKind

PARTY_NAME = {OrderKind.PAYIN: "payer", OrderKind.PAYOUT: "beneficiary", OrderKind.REFUND: None}


def _instant(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def order_view(order: Order) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": order.id,
        "object": order.kind.value,
        "merchant_id": order.merchant_id,
        "merchant_reference": order.merchant_reference,
        "product": order.product,
        "amount": order.amount,
        "currency": order.currency,
        "status": order.status.value,
        "result_unknown": order.result_unknown,
        "channel": order.channel,
        "channel_txn_id": order.channel_txn_id,
        "failure": None,
        "description": order.description,
        "metadata": dict(order.metadata),
        "created_at": _instant(order.created_at),
        "updated_at": _instant(order.updated_at),
        "finished_at": _instant(order.finished_at),
    }
    if order.failure is not None:
        view["failure"] = {
            "class": order.failure.failure_class.value,
            "code": order.failure.code,
            "message": order.failure.message,
        }
    party = PARTY_NAME[order.kind]
    if party is not None:
        view[party] = dict(order.party_masked)
    if order.kind is OrderKind.PAYIN:
        view["fee_amount"] = order.fee_amount
        view["refunded_amount"] = order.refunded_amount
        view["expires_at"] = _instant(order.expires_at)
    if order.kind is OrderKind.REFUND:
        view["payin_id"] = order.parent_id
    return view
