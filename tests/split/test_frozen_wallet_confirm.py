"""A platform freeze of a merchant wallet stops a delayed split from being confirmed: a
confirmation is the merchant's decision, not an outcome a bank already settled, so the
ledger's rule that a hold taken before a freeze may still be posted does not let it
through. Cancelling (the money stays in the wallet) is still allowed."""

from __future__ import annotations

import pytest

from paycore.errors import Rejected
from paycore.ledger.model import AccountStatus
from paycore.payments import bookkeeping as merchant_books
from paycore.split.model import Share, SplitMode, SplitStatus, split_id_for
from tests.split.conftest import Shop


def test_a_delayed_split_cannot_be_confirmed_while_the_merchant_wallet_is_frozen(
    shop: Shop,
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=3600)
    split_id = split_id_for(shop.pay(10_000).id)
    wallet = merchant_books.wallet_account(shop.merchant_id, "CNY")
    shop.runtime.ledger.set_account_status(wallet, AccountStatus.FROZEN)

    with pytest.raises(Rejected) as refused:
        shop.splits.confirm(merchant_id=shop.merchant_id, split_id=split_id)

    assert refused.value.code == "wallet_frozen"
    assert shop.splits.get(merchant_id=None, split_id=split_id).status is SplitStatus.FROZEN
    assert shop.net("alice") == 0
    cancelled = shop.splits.cancel(merchant_id=shop.merchant_id, split_id=split_id)
    assert cancelled.status is not SplitStatus.FROZEN
    [merchant] = shop.runtime.payments.balances(shop.merchant_id)
    assert (merchant["balance"], merchant["held"]) == (9_900, 0)
    assert shop.runtime.ledger.check().ok
