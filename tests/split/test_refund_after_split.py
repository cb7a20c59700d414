"""Refunds after a split (分账回退): claw-backs, debts repaid from the next income, frozen
parts released, and a refused or failed refund given back."""

from __future__ import annotations

import pytest

from paycore.errors import Rejected
from paycore.ledger.model import TransferRequest
from paycore.split.model import Share, SplitMode, split_id_for
from paycore.wallets.model import wallet_account
from tests.split.conftest import Shop, fund_merchant


def spend(shop: Shop, owner: str, amount: int) -> None:
    """The receiver spends from its wallet (a payout, say): the money leaves paycore."""
    [result] = shop.runtime.ledger.create_transfers(
        [
            TransferRequest(
                id=f"tr_test_spend_{owner}_{amount}",
                debit_account_id=wallet_account(shop.merchant_id, owner, "CNY"),
                credit_account_id="acct_test_outside_CNY",
                amount=amount,
                currency="CNY",
            )
        ]
    )
    assert result.result == "created", result


@pytest.fixture(autouse=True)
def merchant_has_other_income(shop: Shop) -> None:
    """A refund is paid in full by the merchant, the payment fee included: beyond what
    the claw-back brings back, it pays from its other income."""
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 1_000)


@pytest.fixture
def outside(shop: Shop) -> None:
    from paycore.ledger.service import AccountRequest

    shop.runtime.ledger.create_account(AccountRequest(id="acct_test_outside_CNY", currency="CNY"))


def test_a_refund_after_a_split_claws_back_from_receivers_in_proportion(shop: Shop) -> None:
    shop.open("alice", "bob")
    shop.rule(Share("alice", bps=5_000), Share("bob", bps=2_000), commission_bps=1_000)
    payin = shop.pay(10_000)  # base 9,900: alice 4,950, bob 1,980, commission 990

    shop.refund_answers()
    refund = shop.splits.refund(
        merchant_id=shop.merchant_id,
        split_id=split_id_for(payin.id),
        amount=5_000,
        idempotency_key="r1",
    )

    assert refund["status"] == "refunded"
    claws = {c["key"]: c["share"] for c in refund["claws"]}
    assert claws == {"r0": 2_475, "r1": 990, "com": 495}
    assert (shop.net("alice"), shop.net("bob")) == (2_475, 990)
    order = shop.runtime.payments.get(merchant_id=None, order_id=payin.id)
    assert order.refunded_amount == 5_000
    assert shop.runtime.ledger.check().ok


def test_a_full_refund_takes_every_part_back(shop: Shop) -> None:
    shop.open("alice", "bob")
    shop.rule(Share("alice", bps=3_333), Share("bob", amount=7), commission_bps=1)
    payin = shop.pay(9_999)
    split_id = split_id_for(payin.id)

    for key, amount in (("a", 1), ("b", 4_000), ("c", 5_998)):
        shop.refund_answers()
        shop.splits.refund(merchant_id=None, split_id=split_id, amount=amount, idempotency_key=key)

    assert (shop.net("alice"), shop.net("bob")) == (0, 0)
    assert shop.runtime.payments.balances(shop.merchant_id)[0]["balance"] == 1_000 - 100
    assert shop.runtime.ledger.check().ok


def test_a_receiver_short_of_money_owes_the_shortfall_and_repays_it_from_its_next_income(
    shop: Shop, outside: None
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    first = shop.pay(10_000)  # alice gets 4,950
    spend(shop, "alice", 4_000)  # 950 left

    shop.refund_answers()
    shop.splits.refund(
        merchant_id=None, split_id=split_id_for(first.id), amount=10_000, idempotency_key="all"
    )

    owing = shop.wallet("alice")
    assert (owing.balance, owing.available, owing.debt) == (0, 0, 4_000)
    debts = shop.runtime.wallets.statement(shop.merchant_id, "alice", "CNY", debts=True)
    assert [e.amount for e in debts.entries] == [4_000]

    shop.pay(10_000)  # the next split pays alice 4,950, of which 4,000 repay the debt

    repaid = shop.wallet("alice")
    assert (repaid.balance, repaid.debt) == (950, 0)
    assert shop.runtime.ledger.check().ok


def test_a_wallet_allowed_below_zero_gives_back_everything_and_owes_nothing(
    shop: Shop, outside: None
) -> None:
    shop.open("alice", allow_negative=True)
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)
    spend(shop, "alice", 4_950)

    shop.refund_answers()
    shop.splits.refund(
        merchant_id=None, split_id=split_id_for(payin.id), amount=10_000, idempotency_key="x"
    )

    wallet = shop.wallet("alice")
    assert (wallet.balance, wallet.debt) == (-4_950, 0)


def test_a_refund_of_a_frozen_split_releases_the_parts_instead_of_clawing_back(
    shop: Shop,
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=3_600)
    payin = shop.pay(10_000)
    split_id = split_id_for(payin.id)

    shop.refund_answers()
    shop.splits.refund(merchant_id=None, split_id=split_id, amount=4_000, idempotency_key="r")
    split = shop.splits.confirm(merchant_id=None, split_id=split_id)

    # alice's frozen 4,950 weighs 4,950 of the 10,000 paid: she gives back 1,980 of it.
    assert split.legs[0].received == 4_950 - 1_980
    assert shop.net("alice") == 2_970
    assert shop.runtime.ledger.check().ok


def test_a_refund_the_bank_declines_gives_the_claw_back_back(shop: Shop) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), commission_bps=100)
    payin = shop.pay(10_000)

    shop.refund_answers(ok=False)
    refund = shop.splits.refund(
        merchant_id=None, split_id=split_id_for(payin.id), amount=10_000, idempotency_key="r"
    )

    assert (refund["status"], refund["failure_code"]) == ("failed", "refund_declined")
    assert shop.net("alice") == 4_950
    split = shop.splits.get(merchant_id=None, split_id=split_id_for(payin.id))
    assert split.refunded == 0 and split.legs[0].clawed == 0
    assert shop.runtime.ledger.check().ok


def test_the_same_refund_sent_twice_moves_money_once_and_a_reused_key_is_refused(
    shop: Shop,
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)
    split_id = split_id_for(payin.id)

    shop.refund_answers()
    first = shop.splits.refund(
        merchant_id=None, split_id=split_id, amount=2_000, idempotency_key="k"
    )
    again = shop.splits.refund(
        merchant_id=None, split_id=split_id, amount=2_000, idempotency_key="k"
    )

    assert first == again
    assert shop.net("alice") == 3_960
    with pytest.raises(Rejected) as reused:
        shop.splits.refund(merchant_id=None, split_id=split_id, amount=3_000, idempotency_key="k")
    assert reused.value.code == "idempotency_key_reused"


def test_named_parts_claw_back_only_the_receivers_the_refund_names(shop: Shop) -> None:
    shop.open("alice", "bob")
    shop.rule(Share("alice", bps=4_000), Share("bob", bps=4_000))
    payin = shop.pay(10_000)

    shop.refund_answers()
    shop.splits.refund(
        merchant_id=None,
        split_id=split_id_for(payin.id),
        amount=3_000,
        parts={"bob": 3_000},
        idempotency_key="r",
    )

    assert (shop.net("alice"), shop.net("bob")) == (3_960, 960)


@pytest.mark.parametrize(
    ("amount", "parts", "code"),
    [
        (0, None, "amount_must_be_positive"),
        (10_001, None, "refund_exceeds_refundable"),
        (100, {"nobody": 10}, "receiver_not_found"),
        (100, {"alice": 200}, "parts_exceed_refund"),
        (9_000, {"alice": 4_951}, "invalid_part"),
    ],
)
def test_a_refund_outside_the_limits_is_refused_and_moves_nothing(
    shop: Shop, amount: int, parts: dict[str, int] | None, code: str
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)

    with pytest.raises(Rejected) as refused:
        shop.splits.refund(
            merchant_id=None,
            split_id=split_id_for(payin.id),
            amount=amount,
            parts=parts,
            idempotency_key="bad",
        )

    assert refused.value.code == code
    assert shop.net("alice") == 4_950
