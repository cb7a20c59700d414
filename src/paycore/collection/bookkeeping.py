"""Which ledger transfers a collection posts. Pure.

Wallet method, one attempt, linked (both legs or neither):
  tenant wallet → landlord wallet   amount - fee
  tenant wallet → merchant wallet   fee (the merchant's service fee; absent when zero)
Channel method: the pay-in brings the money into the merchant's wallet (the payments
slice posts that), then
  merchant wallet → landlord wallet amount - fee (the merchant keeps the fee)

Ids are derived from the attempt id, so resuming an attempt after a crash moves money
once (the ledger answers `exists`). The landlord leg of a channel attempt carries a try
number: if the merchant's wallet was short, the failed id is burnt and the next try
needs a new one.
"""

from __future__ import annotations

from dataclasses import replace

from paycore.collection.model import Plan
from paycore.ledger.model import TransferFlags, TransferRequest
from paycore.payments import bookkeeping as books
from paycore.wallets.model import wallet_account

REASON_COLLECTION = 50
REASON_COLLECTION_FEE = 51
REASON_COLLECTION_PAYOUT = 52


def _meta(plan: Plan, attempt_id: str) -> dict[str, str]:
    return {"plan_id": plan.id, "attempt_id": attempt_id, "merchant_id": plan.merchant_id}


def wallet_legs(plan: Plan, attempt_id: str) -> list[TransferRequest]:
    terms = plan.terms
    tenant = wallet_account(plan.merchant_id, terms.tenant, terms.currency)
    legs = [
        TransferRequest(
            id=f"tr_col_{attempt_id}_net",
            debit_account_id=tenant,
            credit_account_id=wallet_account(plan.merchant_id, terms.landlord, terms.currency),
            amount=plan.landlord_net,
            currency=terms.currency,
            code=REASON_COLLECTION,
            metadata=_meta(plan, attempt_id),
        )
    ]
    if plan.fee_amount:
        legs.append(
            TransferRequest(
                id=f"tr_col_{attempt_id}_fee",
                debit_account_id=tenant,
                credit_account_id=books.wallet_account(plan.merchant_id, terms.currency),
                amount=plan.fee_amount,
                currency=terms.currency,
                code=REASON_COLLECTION_FEE,
                metadata=_meta(plan, attempt_id),
            )
        )
    return [replace(t, flags=TransferFlags.LINKED.value) for t in legs[:-1]] + legs[-1:]


def landlord_leg(plan: Plan, attempt_id: str, settle_try: int) -> TransferRequest:
    terms = plan.terms
    return TransferRequest(
        id=f"tr_col_{attempt_id}_ll{settle_try}",
        debit_account_id=books.wallet_account(plan.merchant_id, terms.currency),
        credit_account_id=wallet_account(plan.merchant_id, terms.landlord, terms.currency),
        amount=plan.landlord_net,
        currency=terms.currency,
        code=REASON_COLLECTION_PAYOUT,
        metadata=_meta(plan, attempt_id),
    )
