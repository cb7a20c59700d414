"""The split rules after the split: its status read from its legs, what a confirmation
posts, what a refund claws back from each leg, and how a claw-back is covered. Pure
calls on hand-built splits; no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.split.model import (
    COMMISSION,
    Leg,
    LegState,
    Split,
    SplitMode,
    SplitStatus,
    clawback_shares,
    confirm_amounts,
    copy_legs,
    cover,
    status_of,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
P, F, V, X, N = (
    LegState.POSTED,
    LegState.PENDING,
    LegState.VOIDED,
    LegState.EXPIRED,
    LegState.PLANNED,
)


def leg(key: str, owner: str | None, state: LegState = P, **money: int) -> Leg:
    return Leg(key=key, owner=owner, amount=money.pop("amount", 0), state=state,
               transfer_id=f"tr_spl_t_{key}", **money)  # fmt: skip


def split(
    *legs: Leg, payin: int = 10_000, refunded: int = 0, status: SplitStatus | None = None
) -> Split:
    return Split(
        id="spl_t",
        merchant_id="m",
        payin_id="pay_t",
        rule_id="srl_t",
        product="goods",
        currency="CNY",
        mode=SplitMode.DELAYED,
        freeze_s=3_600,
        payin_amount=payin,
        base=payin,
        legs=list(legs),
        status=status or status_of(legs),
        created_at=T0,
        updated_at=T0,
        refunded=refunded,
    )


def code_of(call: object, *args: object, **kw: object) -> str:
    with pytest.raises(Rejected) as caught:
        call(*args, **kw)  # type: ignore[operator]
    assert caught.value.detail  # the caller is always told why, not just a code
    return caught.value.code


# -- legs ----------------------------------------------------------------------------------


def test_what_a_leg_still_holds_is_frozen_plus_received_less_clawed() -> None:
    assert leg("r0", "ann", frozen=7, received=50, clawed=20).remaining == 37


def test_a_leg_is_found_by_key_or_by_owner_and_a_stranger_is_receiver_not_found() -> None:
    s = split(leg("r0", "ann"), leg("r1", "bob"), leg(COMMISSION, None))
    assert s.leg("r1").owner == "bob"
    assert s.leg_of("ann").key == "r0"
    assert s.leg_of("bob").key == "r1"
    assert code_of(s.leg, "r7") == "receiver_not_found"
    assert code_of(s.leg_of, "cy") == "receiver_not_found"


def test_copied_legs_are_equal_but_changing_a_copy_leaves_the_split_alone() -> None:
    legs = [leg("r0", "ann", amount=5, received=5)]
    copies = copy_legs(legs)
    assert copies == legs
    copies[0].clawed = 5
    assert legs[0].clawed == 0


# -- status_of -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "status"),
    [
        ((F,), SplitStatus.FROZEN),
        ((F, V), SplitStatus.FROZEN),  # a voided leg paid nobody
        ((F, P), SplitStatus.PARTIALLY_CONFIRMED),
        ((F, X), SplitStatus.PARTIALLY_CONFIRMED),
        ((P,), SplitStatus.SETTLED),
        ((P, V), SplitStatus.SETTLED),
        ((P, X), SplitStatus.SETTLED),
        ((X,), SplitStatus.EXPIRED),
        ((X, V), SplitStatus.EXPIRED),
        ((V,), SplitStatus.CANCELLED),
        ((), SplitStatus.CANCELLED),
    ],
)
def test_a_splits_status_is_read_from_its_legs(
    states: tuple[LegState, ...], status: SplitStatus
) -> None:
    assert status_of([leg(f"r{i}", f"u{i}", s) for i, s in enumerate(states)]) is status


# -- confirm_amounts -----------------------------------------------------------------------


def frozen_split() -> Split:
    return split(
        leg("r0", "ann", F, amount=300, frozen=300),
        leg("r1", "bob", P, amount=200, received=200),
        leg("r2", "cy", F, amount=100, frozen=100),
        leg(COMMISSION, None, F, amount=50, frozen=50),
    )


def test_confirming_without_parts_posts_every_frozen_leg_in_full() -> None:
    assert confirm_amounts(frozen_split(), None) == {"r0": 300, "r2": 100, COMMISSION: 50}


def test_confirming_named_parts_posts_those_and_the_whole_commission() -> None:
    amounts = confirm_amounts(frozen_split(), {"ann": 1, "cy": 100})
    assert amounts == {"r0": 1, "r2": 100, COMMISSION: 50}


def test_a_commission_no_longer_frozen_is_not_confirmed_again() -> None:
    s = frozen_split()
    s.leg(COMMISSION).state, s.leg(COMMISSION).frozen = P, 0
    assert confirm_amounts(s, {"ann": 10}) == {"r0": 10}


@pytest.mark.parametrize("amount", [0, -5, 301])
def test_a_confirmed_part_is_one_unit_to_what_is_frozen_else_invalid_amount(amount: int) -> None:
    assert code_of(confirm_amounts, frozen_split(), {"ann": amount}) == "invalid_amount"


def test_an_empty_set_of_parts_is_refused_with_parts_empty() -> None:
    assert code_of(confirm_amounts, frozen_split(), {}) == "parts_empty"


def test_confirming_a_part_already_posted_is_refused_with_receiver_not_frozen() -> None:
    assert code_of(confirm_amounts, frozen_split(), {"bob": 1}) == "receiver_not_frozen"


def test_confirming_a_stranger_is_refused_with_receiver_not_found() -> None:
    assert code_of(confirm_amounts, frozen_split(), {"zed": 1}) == "receiver_not_found"


@pytest.mark.parametrize("status", [SplitStatus.FROZEN, SplitStatus.PARTIALLY_CONFIRMED])
def test_a_frozen_or_partly_confirmed_split_can_be_confirmed(status: SplitStatus) -> None:
    s = frozen_split()
    s.status = status
    assert confirm_amounts(s, None)


@pytest.mark.parametrize(
    "status",
    [
        SplitStatus.RECORDED,
        SplitStatus.SETTLED,
        SplitStatus.EXPIRED,
        SplitStatus.CANCELLED,
        SplitStatus.FAILED,
    ],
)
def test_a_split_not_frozen_cannot_be_confirmed(status: SplitStatus) -> None:
    s = frozen_split()
    s.status = status
    assert code_of(confirm_amounts, s, None) == "split_not_frozen"


# -- clawback_shares -----------------------------------------------------------------------


def paid_split(refunded: int = 0) -> Split:
    """10000 paid in: ann received 3000, bob 2000 of which 500 already clawed, the
    commission holds 1000 frozen; the merchant and the fee hold the other 4000."""
    return split(
        leg("r0", "ann", amount=3_000, received=3_000),
        leg("r1", "bob", amount=2_000, received=2_000, clawed=500),
        leg("r2", "cy", X, amount=400),  # expired: holds nothing any more
        leg(COMMISSION, None, F, amount=1_000, frozen=1_000),
        refunded=refunded,
    )


def shares(s: Split, amount: int, refundable: int = 10**9, **parts: int) -> dict[str, int]:
    return clawback_shares(s, amount=amount, refundable=refundable, parts=parts or None)


def test_a_refund_takes_back_from_each_leg_in_proportion_to_what_it_still_holds() -> None:
    # Weights 3000 : 1500 : 1000 : merchant 4500, of 1000: 300, 150, 100 (merchant 450).
    assert shares(paid_split(), 1_000) == {"r0": 300, "r1": 150, COMMISSION: 100}


def test_the_last_units_of_a_claw_back_go_to_the_largest_remainders() -> None:
    # Of 7: quotas 2.1, 1.05, 0.7, merchant 3.15 -> floors 2, 1, 0, 3; one unit left,
    # and the commission's .7 is the largest remainder.
    assert shares(paid_split(), 7) == {"r0": 2, "r1": 1, COMMISSION: 1}


def test_what_was_refunded_before_is_no_longer_the_merchants_to_give_back() -> None:
    # 4500 refunded already came from the merchant's part: the legs hold all that is left.
    assert shares(paid_split(refunded=4_500), 5_500, 5_500) == {
        "r0": 3_000,
        "r1": 1_500,
        COMMISSION: 1_000,
    }


def test_a_leg_holding_a_single_unit_still_gives_it_back_on_a_full_refund() -> None:
    s = split(leg("r0", "ann", amount=1, received=1), payin=1)
    assert shares(s, 1, 1) == {"r0": 1}


@pytest.mark.parametrize("amount", [0, -1])
def test_a_refund_of_nothing_is_refused_with_amount_must_be_positive(amount: int) -> None:
    assert code_of(shares, paid_split(), amount) == "amount_must_be_positive"


def test_a_refund_may_take_exactly_what_is_left_of_the_payin_but_not_one_more() -> None:
    s = paid_split(refunded=1_000)
    assert shares(s, 9_000) == {"r0": 3_000, "r1": 1_500, COMMISSION: 1_000}
    assert code_of(shares, s, 9_001) == "refund_exceeds_refundable"


def test_a_refund_may_take_exactly_what_payments_still_refunds_but_not_one_more() -> None:
    assert shares(paid_split(), 5_000, 5_000) == {"r0": 1_500, "r1": 750, COMMISSION: 500}
    assert code_of(shares, paid_split(), 5_001, 5_000) == "refund_exceeds_refundable"


def test_named_parts_replace_the_receivers_shares_but_the_commission_keeps_its_own() -> None:
    got = shares(paid_split(), 1_000, ann=600, bob=0)
    assert got == {"r0": 600, COMMISSION: 100}  # bob gives back nothing: no entry


def test_a_named_part_may_be_all_a_leg_still_holds_but_not_one_more() -> None:
    assert shares(paid_split(), 2_000, bob=1_500) == {"r1": 1_500, COMMISSION: 200}
    assert code_of(shares, paid_split(), 2_000, bob=1_501) == "invalid_part"
    assert code_of(shares, paid_split(), 2_000, bob=-1) == "invalid_part"


def test_named_parts_may_sum_to_the_refund_but_not_past_it() -> None:
    assert shares(paid_split(), 1_000, ann=900) == {"r0": 900, COMMISSION: 100}
    assert code_of(shares, paid_split(), 1_000, ann=901) == "parts_exceed_refund"


def test_a_named_part_for_a_stranger_is_refused_with_receiver_not_found() -> None:
    assert code_of(shares, paid_split(), 1_000, zed=1) == "receiver_not_found"


def test_legs_holding_more_than_is_left_of_the_payin_are_a_broken_split_not_a_refund() -> None:
    # 9000 of 10000 refunded, yet the legs still hold 5500: the records disagree.
    with pytest.raises(ValueError, match="legs hold more than is left"):
        shares(paid_split(refunded=9_000), 100)


legs_held = st.lists(st.tuples(st.integers(0, 5_000), st.integers(0, 5_000)), max_size=5)


@given(held=legs_held, merchant=st.integers(0, 5_000), data=st.data())
def test_no_leg_gives_back_more_than_it_holds_and_a_full_refund_takes_everything(
    held: list[tuple[int, int]], merchant: int, data: st.DataObject
) -> None:
    legs = [leg(f"r{i}", f"u{i}", received=r, clawed=min(c, r)) for i, (r, c) in enumerate(held)]
    left = sum(x.remaining for x in legs) + merchant
    if left == 0:
        return
    s = split(*legs, payin=left + 1_000, refunded=1_000)
    amount = data.draw(st.integers(1, left))

    got = shares(s, amount)

    assert sum(got.values()) <= amount
    assert all(0 < got[x.key] <= x.remaining for x in legs if x.key in got)
    if amount == left:
        assert got == {x.key: x.remaining for x in legs if x.remaining}


# -- cover ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "available", "expected"),
    [
        (100, 250, (100, 0)),  # the wallet covers it
        (100, 100, (100, 0)),  # exactly
        (100, 99, (99, 1)),  # one unit short: a debt of one
        (100, 0, (0, 100)),  # an empty wallet: all of it a debt
        (100, -30, (0, 100)),  # a wallet already below zero gives nothing
    ],
)
def test_what_a_wallet_cannot_cover_becomes_a_debt(
    share: int, available: int, expected: tuple[int, int]
) -> None:
    assert cover(share, available=available, allow_negative=False) == expected


@pytest.mark.parametrize("available", [250, 0, -30])
def test_a_wallet_allowed_below_zero_gives_back_everything_and_owes_nothing(
    available: int,
) -> None:
    assert cover(100, available=available, allow_negative=True) == (100, 0)


@given(share=st.integers(0, 10**9), available=st.integers(-(10**9), 10**9))
def test_wallet_and_debt_always_add_up_to_the_share(share: int, available: int) -> None:
    from_wallet, debt = cover(share, available=available, allow_negative=False)
    assert from_wallet + debt == share
    assert 0 <= from_wallet <= max(available, 0)
    assert debt >= 0
