"""The split rules themselves, called directly (no database): which rules are accepted,
how a base is divided, the legs a split plans and the ids it derives.

Boundaries are tested at exactly the limit and one past it; the limits are spelled out
here (20 receivers, 10000 bps, 60 s to 90 days) because they are the documented rule,
not whatever the constants happen to say.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore import limits
from paycore.errors import Rejected
from paycore.split.model import (
    COMMISSION,
    LegState,
    Parts,
    Rule,
    Share,
    SplitMode,
    allocate,
    check_rule,
    plan_legs,
    refund_id_for,
    split_id_for,
    split_parts,
)

DAY_S = 24 * 3600


def rule(
    *receivers: Share,
    mode: SplitMode = SplitMode.IMMEDIATE,
    freeze_s: int | None = None,
    commission_bps: int = 0,
    commission_amount: int = 0,
) -> Rule:
    return Rule(
        id="srl_t",
        merchant_id="m",
        product="goods",
        currency="CNY",
        mode=mode,
        freeze_s=(0 if mode is SplitMode.IMMEDIATE else 3_600) if freeze_s is None else freeze_s,
        receivers=receivers or (Share("u0", bps=1_000),),
        commission_bps=commission_bps,
        commission_amount=commission_amount,
    )


def refused(r: Rule) -> str:
    with pytest.raises(Rejected) as caught:
        check_rule(r)
    assert caught.value.detail  # a merchant is always told why, not just a code
    return caught.value.code


# -- check_rule: receivers -----------------------------------------------------------------


def test_a_rule_without_receivers_is_refused_with_invalid_receivers() -> None:
    assert refused(replace(rule(), receivers=())) == "invalid_receivers"


@pytest.mark.parametrize("count", [1, 20])
def test_a_rule_with_one_to_twenty_receivers_is_accepted(count: int) -> None:
    check_rule(rule(*(Share(f"u{i}", bps=100) for i in range(count))))


def test_a_rule_with_twenty_one_receivers_is_refused_with_invalid_receivers() -> None:
    assert refused(rule(*(Share(f"u{i}", amount=1) for i in range(21)))) == "invalid_receivers"


def test_a_receiver_named_twice_is_refused_with_duplicate_receiver() -> None:
    r = rule(Share("u1", bps=100), Share("u2", bps=100), Share("u1", amount=5))
    assert refused(r) == "duplicate_receiver"


def test_a_receiver_whose_name_is_not_a_wallet_owner_is_refused_with_invalid_owner() -> None:
    assert refused(rule(Share("u 1", bps=100))) == "invalid_owner"


# -- check_rule: each share ----------------------------------------------------------------


def test_a_receiver_with_only_an_amount_or_only_bps_is_accepted() -> None:
    check_rule(rule(Share("u1", amount=1), Share("u2", bps=1)))


@pytest.mark.parametrize(
    "share",
    [
        Share("u1"),  # neither
        Share("u1", bps=100, amount=100),  # both
        Share("u1", bps=-1),
        Share("u1", amount=-1),
        Share("u1", bps=-1, amount=5),
        Share("u1", bps=5, amount=-1),
    ],
    ids=["neither", "both", "negative bps", "negative amount", "bps<0+amount", "bps+amount<0"],
)
def test_a_receiver_needs_exactly_one_of_bps_or_amount_above_zero(share: Share) -> None:
    assert refused(rule(share)) == "invalid_share"


def test_a_receiver_may_take_all_ten_thousand_bps_but_not_one_more() -> None:
    check_rule(rule(Share("u1", bps=10_000)))
    assert refused(rule(Share("u1", bps=10_001))) == "invalid_share"


def test_a_fixed_amount_may_be_the_largest_payment_but_not_one_unit_more() -> None:
    check_rule(rule(Share("u1", amount=limits.PAYMENT_AMOUNT_MAX)))
    assert refused(rule(Share("u1", amount=limits.PAYMENT_AMOUNT_MAX + 1))) == "invalid_share"


def test_a_refused_share_names_the_receiver_or_the_commission_at_fault() -> None:
    # With several receivers the merchant must be told which one to fix.
    with pytest.raises(Rejected) as caught:
        check_rule(rule(Share("ann", bps=100), Share("bob")))
    assert "bob" in caught.value.detail
    with pytest.raises(Rejected) as caught:
        check_rule(rule(Share("ann", bps=100), commission_bps=-1))
    assert caught.value.detail.startswith("commission:")


def test_a_rule_without_a_commission_is_accepted() -> None:
    check_rule(rule(Share("u1", bps=100), commission_bps=0, commission_amount=0))


@pytest.mark.parametrize(
    ("bps", "amount", "ok"),
    [
        (1, 0, True),
        (0, 1, True),
        (0, limits.PAYMENT_AMOUNT_MAX, True),
        (0, limits.PAYMENT_AMOUNT_MAX + 1, False),
        (5, 5, False),
        (-1, 0, False),
        (0, -1, False),
    ],
)
def test_the_commission_is_bps_or_an_amount_within_the_same_limits_as_a_receiver(
    bps: int, amount: int, ok: bool
) -> None:
    r = rule(Share("u1", amount=10), commission_bps=bps, commission_amount=amount)
    if ok:
        check_rule(r)
    else:
        assert refused(r) == "invalid_share"


def test_a_commission_of_ten_thousand_bps_is_a_valid_share_but_ten_thousand_one_is_not() -> None:
    # With a fixed receiver the whole 10000 bps may go to the commission.
    check_rule(rule(Share("u1", amount=10), commission_bps=10_000))
    assert refused(rule(Share("u1", amount=10), commission_bps=10_001)) == "invalid_share"


# -- check_rule: the bps sum and the freeze ------------------------------------------------


def test_receivers_and_commission_may_share_exactly_ten_thousand_bps() -> None:
    check_rule(rule(Share("u1", bps=6_000), Share("u2", bps=3_000), commission_bps=1_000))


@pytest.mark.parametrize(
    ("bps", "commission_bps"),
    [((6_000, 4_001), 0), ((6_000, 3_000), 1_001)],
    ids=["receivers alone", "with the commission"],
)
def test_bps_summing_past_ten_thousand_are_refused_with_bps_over_whole(
    bps: tuple[int, int], commission_bps: int
) -> None:
    r = rule(*(Share(f"u{i}", bps=b) for i, b in enumerate(bps)), commission_bps=commission_bps)
    assert refused(r) == "bps_over_whole"


def test_an_immediate_split_freezes_nothing() -> None:
    check_rule(rule(mode=SplitMode.IMMEDIATE, freeze_s=0))
    assert refused(rule(mode=SplitMode.IMMEDIATE, freeze_s=1)) == "invalid_freeze_s"


@pytest.mark.parametrize("freeze_s", [60, 61, 90 * DAY_S - 1, 90 * DAY_S])
def test_a_delayed_split_freezes_from_one_minute_to_ninety_days(freeze_s: int) -> None:
    check_rule(rule(mode=SplitMode.DELAYED, freeze_s=freeze_s))


@pytest.mark.parametrize("freeze_s", [0, 59, 90 * DAY_S + 1])
def test_a_delayed_freeze_outside_one_minute_to_ninety_days_is_refused(freeze_s: int) -> None:
    assert refused(rule(mode=SplitMode.DELAYED, freeze_s=freeze_s)) == "invalid_freeze_s"


# -- allocate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (0, [1, 2], [0, 0]),
        (7, [1, 2, 4], [1, 2, 4]),  # exact: no remainder to hand out
        (10, [3, 3, 3], [4, 3, 3]),  # equal remainders: the earliest weight wins
        (10, [1, 2], [3, 7]),  # quotas 3.33 and 6.67: the larger remainder gets the unit
        (11, [1, 1, 1], [4, 4, 3]),  # two units left over: the first two get one each
        (5, [0, 1, 0], [0, 5, 0]),  # a zero weight gets nothing
        (3, [1, 2, 3, 4], [0, 1, 1, 1]),  # quotas .3 .6 .9 1.2: remainders .6 .9 beat .3 .2
    ],
)
def test_allocate_hands_out_the_last_units_by_largest_remainder(
    total: int, weights: list[int], parts: list[int]
) -> None:
    assert allocate(total, weights) == parts


@pytest.mark.parametrize(
    ("total", "weights"),
    [(-1, [1]), (5, []), (5, [0]), (5, [0, 0]), (5, [2, -1])],
    ids=["negative total", "no weights", "zero weight", "zero weights", "a negative weight"],
)
def test_allocate_refuses_a_negative_total_or_weights_that_are_negative_or_sum_to_zero(
    total: int, weights: list[int]
) -> None:
    with pytest.raises(ValueError, match="allocate"):
        allocate(total, weights)


@given(total=st.integers(0, 10**12), weights=st.lists(st.integers(0, 10**6), min_size=1))
def test_allocate_gives_each_weight_the_floor_or_ceiling_of_its_quota_favouring_remainders(
    total: int, weights: list[int]
) -> None:
    whole = sum(weights)
    if whole == 0:
        return
    parts = allocate(total, weights)
    quotas = [Fraction(total * w, whole) for w in weights]
    for part, quota in zip(parts, quotas, strict=True):
        assert part in (quota.__floor__(), quota.__ceil__())
    # Whoever was rounded up had at least as large a remainder as whoever was not.
    up = [q - q.__floor__() for p, q in zip(parts, quotas, strict=True) if p > q]
    down = [q - q.__floor__() for p, q in zip(parts, quotas, strict=True) if p < q]
    if up and down:
        assert min(up) >= max(down)


# -- split_parts ---------------------------------------------------------------------------


def test_fixed_amounts_come_first_and_bps_share_the_rest() -> None:
    r = rule(Share("u0", bps=2_500), Share("u1", amount=1_000), commission_bps=1_000)
    # rest = 10000 - 1000 = 9000: u0 25% = 2250, commission 10% = 900, merchant 5850.
    assert split_parts(10_000, r) == Parts(receivers=(2_250, 1_000), commission=900, merchant=5_850)


def test_a_fixed_commission_is_taken_before_the_bps_are_applied() -> None:
    r = rule(Share("u0", bps=5_000), Share("u1", amount=200), commission_amount=300)
    # rest = 2000 - 200 - 300 = 1500: u0 half = 750, the merchant keeps the other 750.
    assert split_parts(2_000, r) == Parts(receivers=(750, 200), commission=300, merchant=750)


def test_an_odd_unit_of_the_rest_goes_to_the_first_of_equal_receivers() -> None:
    r = rule(Share("u0", bps=5_000), Share("u1", bps=5_000))
    assert split_parts(101, r) == Parts(receivers=(51, 50), commission=0, merchant=0)


def test_the_last_units_of_the_rest_go_to_the_largest_remainders_commission_included() -> None:
    # Quotas of 999: u0 30% = 299.7, commission 10% = 99.9, merchant 60% = 599.4.
    # Floors 299 + 99 + 599 = 997; the two units left go to .9 (commission) and .7 (u0).
    r = rule(Share("u0", bps=3_000), commission_bps=1_000)
    assert split_parts(999, r) == Parts(receivers=(300,), commission=100, merchant=599)


def test_fixed_parts_exactly_equal_to_the_base_leave_nothing_for_the_bps() -> None:
    r = rule(Share("u0", amount=600), Share("u1", bps=5_000), commission_amount=400)
    assert split_parts(1_000, r) == Parts(receivers=(600, 0), commission=400, merchant=0)


def test_fixed_parts_one_unit_above_the_base_are_refused_with_fixed_parts_exceed_base() -> None:
    r = rule(Share("u0", amount=600), commission_amount=401)
    with pytest.raises(Rejected) as caught:
        split_parts(1_000, r)
    assert caught.value.code == "fixed_parts_exceed_base"
    assert "1001" in caught.value.detail and "1000" in caught.value.detail


# -- legs and ids --------------------------------------------------------------------------


def test_each_part_above_zero_gets_a_planned_leg_with_its_own_transfer_id() -> None:
    r = rule(Share("ann", bps=1), Share("bob", bps=1), Share("cy", bps=1))
    legs = plan_legs("spl_x", r, Parts(receivers=(7, 0, 1), commission=3, merchant=9))
    assert [(leg.key, leg.owner, leg.amount) for leg in legs] == [
        ("r0", "ann", 7),
        ("r2", "cy", 1),  # bob's zero part moves nothing: no leg, and r1 stays unused
        (COMMISSION, None, 3),
    ]
    assert [leg.transfer_id for leg in legs] == ["tr_spl_x_r0", "tr_spl_x_r2", "tr_spl_x_com"]
    assert all(leg.state is LegState.PLANNED for leg in legs)
    assert all((leg.frozen, leg.received, leg.clawed) == (0, 0, 0) for leg in legs)


def test_a_split_without_commission_plans_no_commission_leg() -> None:
    legs = plan_legs("spl_x", rule(Share("ann", bps=1)), Parts((5,), commission=0, merchant=5))
    assert [leg.key for leg in legs] == ["r0"]


def test_parts_of_another_rule_cannot_be_planned() -> None:
    r = rule(Share("ann", bps=1), Share("bob", bps=1))
    with pytest.raises(ValueError):
        plan_legs("spl_x", r, Parts(receivers=(5,), commission=0, merchant=0))


def test_a_split_id_is_the_blake2b_digest_of_its_payin_id() -> None:
    digest = hashlib.blake2b(b"pay_123", digest_size=10).hexdigest()
    assert split_id_for("pay_123") == f"spl_{digest}"
    assert len(split_id_for("pay_123")) == 4 + 20


def test_a_split_refund_id_is_the_blake2b_digest_of_split_and_idempotency_key() -> None:
    digest = hashlib.blake2b(b"spl_a|key-1", digest_size=10).hexdigest()
    assert refund_id_for("spl_a", "key-1") == f"srf_{digest}"
    assert refund_id_for("spl_a", "key-1") != refund_id_for("spl_a", "key-2")
