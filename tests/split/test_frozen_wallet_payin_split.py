"""A split pay-in paid while the platform has frozen the merchant's or a receiver's wallet.

The pay-in is recorded (its net lands in the merchant's wallet, frozen or not); the split,
which moves the merchant's money on, is refused by the freeze as a whole: it ends `failed`
with the ledger's reason, nothing half-applied, and the pay-in is never failed by it.
"""

from __future__ import annotations

import pytest

from paycore.consistency.service import FlowCheck
from paycore.ledger.model import AccountStatus
from paycore.payments import bookkeeping as merchant_books
from paycore.split.model import Share, SplitStatus, split_id_for
from paycore.wallets.model import wallet_account
from tests.split.conftest import Shop


@pytest.mark.parametrize("frozen", ["merchant", "receiver"])
def test_a_split_payin_paid_into_a_frozen_wallet_is_recorded_and_its_split_fails_whole(
    shop: Shop, frozen: str
) -> None:
    shop.open("alice")
    shop.pay(10_000)  # before the rule: opens the merchant's wallet, nothing split
    shop.rule(Share("alice", bps=5_000))
    account_id = (
        merchant_books.wallet_account(shop.merchant_id, "CNY")
        if frozen == "merchant"
        else wallet_account(shop.merchant_id, "alice", "CNY")
    )
    shop.runtime.ledger.set_account_status(account_id, AccountStatus.FROZEN)

    payin = shop.pay(20_000)

    split = shop.splits.get(merchant_id=None, split_id=split_id_for(payin.id))
    assert (split.status, split.failure_code) == (SplitStatus.FAILED, "account_frozen")
    assert shop.net("alice") == 0
    [merchant] = shop.runtime.payments.balances(shop.merchant_id)
    assert merchant["balance"] == 9_900 + 19_800
    assert shop.runtime.ledger.check().ok
    report = FlowCheck(shop.runtime.engine, shop.runtime.clock).run()
    assert report.ok, report.disagreements
