"""Splits of paid pay-ins: immediate, delayed (confirm, expiry, cancel), and the rules."""

from __future__ import annotations

import pytest

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.split.bookkeeping import commission_account
from paycore.split.model import Share, SplitMode, SplitStatus, split_id_for
from tests.split.conftest import Shop


def test_an_immediate_split_pays_each_receiver_its_part_of_what_the_payin_left(
    shop: Shop,
) -> None:
    shop.open("alice", "bob")
    shop.rule(Share("alice", bps=3_000), Share("bob", amount=1_000), commission_bps=500)

    payin = shop.pay(10_000)  # fee 1% = 100: the base is 9,900

    split = shop.splits.get(merchant_id=shop.merchant_id, split_id=split_id_for(payin.id))
    assert split.status is SplitStatus.SETTLED
    # bob's 1,000 first; the 8,900 left: alice 30% = 2,670, commission 5% = 445.
    assert (shop.net("alice"), shop.net("bob")) == (2_670, 1_000)
    commission = shop.runtime.ledger.get_account(commission_account("CNY"))
    assert commission is not None and commission.credits_posted == 445
    assert shop.runtime.payments.balances(shop.merchant_id)[0]["balance"] == 9_900 - 4_115
    assert shop.runtime.ledger.check().ok


def test_a_payin_is_split_once_even_when_the_sweep_sees_it_again(shop: Shop) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)

    shop.splits.tick()
    shop.splits.split_payin(payin)

    assert shop.net("alice") == 4_950
    assert len(shop.splits.list(merchant_id=shop.merchant_id)) == 1


def test_a_payin_paid_before_its_rule_existed_is_not_split(shop: Shop) -> None:
    shop.open("alice")
    shop.pay(10_000)
    shop.rule(Share("alice", bps=5_000))

    shop.splits.tick()

    assert shop.splits.list(merchant_id=shop.merchant_id) == []
    assert shop.net("alice") == 0


def test_fixed_parts_above_the_base_fail_the_split_and_move_nothing(shop: Shop) -> None:
    shop.open("alice")
    shop.rule(Share("alice", amount=5_000))

    payin = shop.pay(5_000)  # base 4,950

    split = shop.splits.get(merchant_id=None, split_id=split_id_for(payin.id))
    assert (split.status, split.failure_code) == (SplitStatus.FAILED, "fixed_parts_exceed_base")
    assert shop.net("alice") == 0


def test_a_delayed_split_freezes_the_parts_until_the_merchant_confirms(shop: Shop) -> None:
    shop.open("alice", "bob")
    shop.rule(
        Share("alice", bps=5_000), Share("bob", bps=2_000), mode=SplitMode.DELAYED, freeze_s=3600
    )
    payin = shop.pay(10_000)
    split_id = split_id_for(payin.id)

    frozen = shop.splits.get(merchant_id=None, split_id=split_id)
    assert frozen.status is SplitStatus.FROZEN
    assert shop.wallet("alice").incoming == 4_950
    [merchant] = shop.runtime.payments.balances(shop.merchant_id)
    assert (merchant["balance"], merchant["held"]) == (9_900, 4_950 + 1_980)

    partly = shop.splits.confirm(merchant_id=None, split_id=split_id, parts={"alice": 4_000})
    assert partly.status is SplitStatus.PARTIALLY_CONFIRMED
    settled = shop.splits.confirm(merchant_id=None, split_id=split_id)

    assert settled.status is SplitStatus.SETTLED
    assert (shop.net("alice"), shop.net("bob")) == (4_000, 1_980)
    [merchant] = shop.runtime.payments.balances(shop.merchant_id)
    assert (merchant["balance"], merchant["held"]) == (9_900 - 5_980, 0)
    assert shop.runtime.ledger.check().ok


def test_a_delayed_split_not_confirmed_in_time_expires_back_to_the_merchant(
    shop: Shop, clock: ManualClock
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=600)
    payin = shop.pay(10_000)
    split_id = split_id_for(payin.id)

    clock.advance(599)
    shop.splits.tick()
    assert shop.splits.get(merchant_id=None, split_id=split_id).status is SplitStatus.FROZEN
    clock.advance(1)
    shop.splits.tick()

    assert shop.splits.get(merchant_id=None, split_id=split_id).status is SplitStatus.EXPIRED
    assert shop.wallet("alice").incoming == 0
    [merchant] = shop.runtime.payments.balances(shop.merchant_id)
    assert (merchant["available"], merchant["held"]) == (9_900, 0)
    with pytest.raises(Rejected) as late:
        shop.splits.confirm(merchant_id=None, split_id=split_id)
    assert late.value.code == "split_not_frozen"


def test_a_cancelled_delayed_split_gives_everything_back_to_the_merchant(shop: Shop) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=600)
    payin = shop.pay(10_000)

    split = shop.splits.cancel(merchant_id=shop.merchant_id, split_id=split_id_for(payin.id))

    assert split.status is SplitStatus.CANCELLED
    assert shop.runtime.payments.balances(shop.merchant_id)[0]["available"] == 9_900


def test_another_merchants_split_is_not_found(shop: Shop, runtime: object) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)
    other, _ = shop.runtime.merchants.create(name="other", fee_bps=0)

    with pytest.raises(Rejected) as missing:
        shop.splits.get(merchant_id=other.id, split_id=split_id_for(payin.id))

    assert missing.value.code == "split_not_found"


@pytest.mark.parametrize(
    ("shares", "changes", "code"),
    [
        ([Share("alice", bps=9_000)], {"commission_bps": 1_001}, "bps_over_whole"),
        ([Share("alice", bps=1), Share("alice", bps=2)], {}, "duplicate_receiver"),
        ([Share("alice", bps=10, amount=5)], {}, "invalid_share"),
        ([Share("alice", amount=-5)], {}, "invalid_share"),
        ([], {}, "invalid_receivers"),
        ([Share(f"u{i}", bps=1) for i in range(21)], {}, "invalid_receivers"),
        ([Share("nobody", bps=10)], {}, "receiver_has_no_wallet"),
        ([Share("alice", bps=10)], {"mode": SplitMode.DELAYED, "freeze_s": 5}, "invalid_freeze_s"),
    ],
)
def test_a_rule_outside_the_limits_is_refused(
    shop: Shop, shares: list[Share], changes: dict[str, object], code: str
) -> None:
    shop.open("alice", *[f"u{i}" for i in range(21)])

    with pytest.raises(Rejected) as refused:
        shop.rule(*shares, **changes)  # type: ignore[arg-type]

    assert refused.value.code == code
