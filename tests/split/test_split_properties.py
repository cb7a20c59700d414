"""Property tests: the split rules (pure) and whole sequences of pay-in, split, confirm,
refund and claw-back against the ledger."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.runtime import Runtime
from paycore.split.model import (
    BPS_WHOLE,
    LegState,
    Rule,
    Share,
    SplitMode,
    allocate,
    split_id_for,
    split_parts,
)
from tests.payments.fakes import ScriptedChannel
from tests.split.conftest import fund_merchant, new_shop

shares = st.lists(
    st.one_of(
        st.builds(lambda b: ("bps", b), st.integers(1, 4_000)),
        st.builds(lambda a: ("amount", a), st.integers(1, 3_000)),
    ),
    min_size=1,
    max_size=4,
)


def make_rule(kinds: list[tuple[str, int]], commission_bps: int, mode: SplitMode) -> Rule:
    receivers = tuple(Share(f"u{i}", **{kind: value}) for i, (kind, value) in enumerate(kinds))
    return Rule(
        id="srl_x",
        merchant_id="m",
        product="goods",
        currency="CNY",
        mode=mode,
        freeze_s=3_600 if mode is SplitMode.DELAYED else 0,
        receivers=receivers,
        commission_bps=commission_bps,
    )


@given(total=st.integers(0, 10**12), weights=st.lists(st.integers(0, 10**6), min_size=1))
def test_largest_remainder_parts_sum_to_the_whole_and_stay_within_one_of_the_quota(
    total: int, weights: list[int]
) -> None:
    assume(sum(weights) > 0)

    parts = allocate(total, weights)

    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, sum(weights))
        assert exact - 1 < part < exact + 1


@given(base=st.integers(0, 10**9), kinds=shares, commission_bps=st.integers(0, 2_000))
def test_the_parts_of_a_split_always_sum_to_its_base(
    base: int, kinds: list[tuple[str, int]], commission_bps: int
) -> None:
    rule = make_rule(kinds, commission_bps, SplitMode.IMMEDIATE)
    assume(sum(s.bps for s in rule.receivers) + commission_bps <= BPS_WHOLE)
    fixed = sum(s.amount for s in rule.receivers)
    if fixed > base:
        try:
            split_parts(base, rule)
        except Rejected as refused:
            assert refused.code == "fixed_parts_exceed_base"
            return
        raise AssertionError("fixed parts above the base were accepted")

    parts = split_parts(base, rule)

    assert sum(parts.receivers) + parts.commission + parts.merchant == base
    for share, part in zip(rule.receivers, parts.receivers, strict=True):
        exact = Fraction((base - fixed) * share.bps, BPS_WHOLE) + share.amount
        assert exact - 1 < part < exact + 1


actions = st.lists(
    st.one_of(
        st.tuples(st.just("confirm"), st.integers(0, 100)),
        st.tuples(st.just("refund"), st.integers(1, 100)),
        st.tuples(st.just("expire"), st.just(0)),
    ),
    max_size=5,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kinds=shares,
    commission_bps=st.integers(0, 1_000),
    delayed=st.booleans(),
    amount=st.integers(1_000, 50_000),
    steps=actions,
)
def test_any_sequence_of_split_confirm_and_refund_keeps_the_ledger_balanced_and_each_receivers_net_to_its_rule(  # noqa: E501
    runtime: Runtime,
    alpha: ScriptedChannel,
    clock: ManualClock,
    kinds: list[tuple[str, int]],
    commission_bps: int,
    delayed: bool,
    amount: int,
    steps: list[tuple[str, int]],
) -> None:
    mode = SplitMode.DELAYED if delayed else SplitMode.IMMEDIATE
    rule = make_rule(kinds, commission_bps, mode)
    assume(sum(s.bps for s in rule.receivers) + commission_bps <= BPS_WHOLE)
    shop = new_shop(runtime, alpha)
    fund_merchant(runtime.ledger, shop.merchant_id, 1_000_000)  # pays its fee on refunds
    shop.open(*[s.owner for s in rule.receivers])
    shop.rule(*rule.receivers, mode=mode, freeze_s=rule.freeze_s, commission_bps=commission_bps)
    payin = shop.pay(amount)
    split_id = split_id_for(payin.id)
    split = shop.splits.get(merchant_id=None, split_id=split_id)
    base = amount - payin.fee_amount
    fixed = sum(s.amount for s in rule.receivers)
    if fixed > base:
        assert split.failure_code == "fixed_parts_exceed_base"
        return
    for share in rule.receivers:  # each part is what the rule says, within rounding
        part = split.leg_of(share.owner).amount if _has_leg(split, share.owner) else 0
        exact = Fraction((base - fixed) * share.bps, BPS_WHOLE) + share.amount
        assert exact - 1 < part < exact + 1
    refunded = 0
    for number, (action, size) in enumerate(steps):
        event(action)
        if action == "confirm" and any(leg.state is LegState.PENDING for leg in split.legs):
            owner = next((leg.owner for leg in split.legs if leg.state is LegState.PENDING), None)
            parts = None
            if size and owner is not None:
                frozen = split.leg_of(owner).frozen
                parts = {owner: max(1, frozen * size // 100)}
            split = shop.splits.confirm(merchant_id=None, split_id=split_id, parts=parts)
        elif action == "refund" and refunded < amount:
            refund_amount = max(1, (amount - refunded) * size // 100)
            shop.refund_answers()
            done = shop.splits.refund(
                merchant_id=None,
                split_id=split_id,
                amount=refund_amount,
                idempotency_key=f"r{number}",
            )
            assert done["status"] == "refunded"
            refunded += refund_amount
        elif action == "expire":
            clock.advance(3_600)
            shop.splits.tick()
        split = shop.splits.get(merchant_id=None, split_id=split_id)
        assert runtime.ledger.check().ok
        for leg in split.legs:
            assert 0 <= leg.clawed <= leg.received <= leg.amount
            if leg.owner is not None:
                wallet = shop.wallet(leg.owner)
                # The ledger and the split's record agree on every receiver.
                assert wallet.balance - wallet.debt == leg.received - leg.clawed
                assert wallet.incoming == leg.frozen
    event(f"{split.status.value} after {len(steps)} steps")
    if refunded == amount:  # a full refund takes every part back
        assert all(leg.remaining == 0 for leg in split.legs)


def _has_leg(split: object, owner: str) -> bool:
    return any(leg.owner == owner for leg in split.legs)  # type: ignore[attr-defined]
