"""Which ledger accounts and transfers custody posts. Pure.

Chart of accounts (ledger `code`), per custody bank and currency:
  1201 custody pool      the money the bank holds for us (debit-normal, never below zero)
  1202 custody funding   the other side of the pool: money moved into or out of custody
  2201 custody owner     one sub-account per owner (buyer, seller, agency), never below zero

Every movement into or out of custody is two linked transfers: the owner's side
(merchant wallet <-> sub-account) and the pool's side (funding <-> pool), so the pool
always equals the sum of the sub-accounts; the daily check proves it. Transfer ids are
derived from the receipt or deal and an attempt number, so a retry moves money once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from paycore.custody.model import CustodyBank, Deal, RestTo
from paycore.ledger.model import TransferFlags, TransferRequest, TransferResult

CODE_POOL = 1201
CODE_FUNDING = 1202
CODE_SUBACCOUNT = 2201

REASON_INTO_CUSTODY = 40
REASON_OUT_OF_CUSTODY = 41
REASON_COMMISSION = 42
REASON_DEAL_REST = 43

Meta = dict[str, str]
"""Transfer metadata: which receipt or deal a movement belongs to."""


def _digest(*parts: str) -> str:
    # Hashed: bank + merchant + owner would not fit the ledger's 64-character ids.
    return hashlib.blake2b("|".join(parts).encode(), digest_size=12).hexdigest()


def pool_account(bank: CustodyBank) -> str:
    return f"acct_cus_pool_{bank.name}_{bank.currency}"


def funding_account(bank: CustodyBank) -> str:
    return f"acct_cus_fund_{bank.name}_{bank.currency}"


def subaccount_id(bank: CustodyBank, merchant_id: str, owner: str) -> str:
    return f"acct_cs_{_digest('sub', bank.name, bank.currency, merchant_id, owner)}"


# -- money movements -------------------------------------------------------------------------


def _linked(legs: list[TransferRequest]) -> list[TransferRequest]:
    """Every leg but the last linked to the next: all land or none does."""
    legs = [leg for leg in legs if leg.amount]
    return [replace(t, flags=t.flags | TransferFlags.LINKED.value) for t in legs[:-1]] + legs[-1:]


def into_custody(
    bank: CustodyBank,
    *,
    transfer_id: str,
    wallet: str,
    subaccount: str,
    amount: int,
    meta: dict[str, str],
) -> list[TransferRequest]:
    """Merchant wallet -> owner's sub-account, and funding -> pool in step."""
    return _crossing(bank, transfer_id, (wallet, subaccount), amount, meta, inward=True)


def out_of_custody(
    bank: CustodyBank,
    *,
    transfer_id: str,
    wallet: str,
    subaccount: str,
    amount: int,
    meta: dict[str, str],
) -> list[TransferRequest]:
    """Owner's sub-account -> merchant wallet, and pool -> funding in step."""
    return _crossing(bank, transfer_id, (subaccount, wallet), amount, meta, inward=False)


def _crossing(
    bank: CustodyBank,
    transfer_id: str,
    debit_credit: tuple[str, str],
    amount: int,
    meta: dict[str, str],
    *,
    inward: bool,
) -> list[TransferRequest]:
    """Money crossing the custody boundary: the owner's leg, and the pool's leg that keeps
    the pool equal to the sum of the sub-accounts, linked."""
    pool, funding = pool_account(bank), funding_account(bank)
    reason = REASON_INTO_CUSTODY if inward else REASON_OUT_OF_CUSTODY
    debit, credit = debit_credit
    pool_debit, pool_credit = (pool, funding) if inward else (funding, pool)
    return _linked(
        [
            TransferRequest(
                id=transfer_id,
                debit_account_id=debit,
                credit_account_id=credit,
                amount=amount,
                currency=bank.currency,
                code=reason,
                metadata=meta,
            ),
            TransferRequest(
                id=f"{transfer_id}p",
                debit_account_id=pool_debit,
                credit_account_id=pool_credit,
                amount=amount,
                currency=bank.currency,
                code=reason,
                metadata=meta,
            ),
        ]
    )


def close_legs(
    bank: CustodyBank, deal: Deal, *, commission: int, rest_to: RestTo
) -> list[TransferRequest]:
    """定转佣: buyer -> agency (commission) and buyer -> seller (the rest), one linked set.
    With rest_to=buyer the rest stays in the buyer's sub-account."""
    base = f"tr_cus_{deal.id}_c{deal.close_attempt}"
    buyer = subaccount_id(bank, deal.merchant_id, deal.buyer)
    meta = {"deal_id": deal.id, "merchant_id": deal.merchant_id}
    legs = [
        TransferRequest(
            id=f"{base}_com",
            debit_account_id=buyer,
            credit_account_id=subaccount_id(bank, deal.merchant_id, deal.agency),
            amount=commission,
            currency=deal.currency,
            code=REASON_COMMISSION,
            metadata=meta,
        )
    ]
    if rest_to is RestTo.SELLER:
        legs.append(
            TransferRequest(
                id=f"{base}_rest",
                debit_account_id=buyer,
                credit_account_id=subaccount_id(bank, deal.merchant_id, deal.seller),
                amount=deal.deposit_amount - commission,
                currency=deal.currency,
                code=REASON_DEAL_REST,
                metadata=meta,
            )
        )
    return _linked(legs)


def receipt_transfer_id(receipt_id: str, kind: str, attempt: int) -> str:
    """Derived from the receipt: `in`, `back` (cut-off), `ret` (a failed refund returns)."""
    return f"tr_cus_{receipt_id}_{kind}{attempt}"


def ledger_problem(results: Sequence[TransferResult]) -> str | None:
    """None when every leg landed (now or before); else the result that sank the set."""
    bad = [r.result for r in results if r.result not in ("created", "exists")]
    if not bad:
        return None
    real = [code for code in bad if code != "linked_event_failed"]
    return (real or bad)[0]
