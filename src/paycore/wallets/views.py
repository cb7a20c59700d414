"""What the HTTP API and the CLI show of the wallets slice's objects: plain dicts."""

from __future__ import annotations

from typing import Any

from paycore.ledger.model import Entry
from paycore.wallets.model import Wallet


def wallet_view(w: Wallet) -> dict[str, Any]:
    return {
        "owner": w.owner,
        "merchant_id": w.merchant_id,
        "currency": w.currency,
        "account_id": w.account_id,
        "balance": w.balance,
        "held": w.held,
        "incoming": w.incoming,
        "available": w.available,
        "debt": w.debt,
        "allow_negative": w.allow_negative,
    }


def entry_view(e: Entry) -> dict[str, Any]:
    return {
        "transfer_id": e.transfer_id,
        "event": e.event,
        "side": e.side,
        "amount": e.amount,
        "balance": e.credits_posted - e.debits_posted,
        "held": e.debits_pending,
        "created_at": e.created_at.isoformat(),
    }
