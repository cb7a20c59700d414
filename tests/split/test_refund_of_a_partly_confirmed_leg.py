"""A refund of a leg that holds money frozen and money received at once.

The state arises when a refund's claw-back takes part of a frozen leg, the merchant
confirms the rest while the refund is at the bank, and the bank declines: the undo
freezes the clawed part again on a leg already paid. A later refund's share of that leg
is taken from the hold up to what it holds, and from the receiver's wallet (or as a debt)
for the rest; undone, each part goes back where it came from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.clock import ManualClock
from paycore.consistency.service import FlowCheck
from paycore.ledger.model import TransferFlags, TransferRequest
from paycore.payments import bookkeeping as merchant_books
from paycore.split.bookkeeping import Claw, Plan, clawback_plan, undo_plan
from paycore.split.model import (
    Leg,
    LegState,
    Share,
    Split,
    SplitMode,
    SplitStatus,
    split_id_for,
    status_of,
)
from paycore.wallets.model import wallet_account
from tests.payments.fakes import accepted, declined
from tests.split.conftest import Shop, fund_merchant

# By hand: a 10,000 pay-in, fee 1% (100), base 9,900; alice's 50% is 4,950, frozen. The
# first refund (4,000) weighs her 4,950 of the 10,000 paid: 1,980 clawed from her hold,
# 2,970 left frozen and then confirmed. The bank declines; the undo freezes 1,980 again.
INCOME = 1_000  # the merchant's other income: pays the payment fee a refund gives back
NET = 10_000 - 100
PAID = 2_970
FROZEN_AGAIN = 1_980
# The second refund (5,000) weighs her 4,950 (frozen and received) of the 10,000: 2,475,
# more than the 1,980 frozen; the 495 beyond it come from her wallet.
SHARE = 5_000 * 4_950 // 10_000
BEYOND_HOLD = SHARE - FROZEN_AGAIN


def merchant_wallet(shop: Shop) -> tuple[int, int]:
    """(posted balance, available) of the merchant's wallet."""
    account = shop.runtime.ledger.get_account(
        merchant_books.wallet_account(shop.merchant_id, "CNY")
    )
    assert account is not None
    return account.credits_posted - account.debits_posted, account.available


def consistent(shop: Shop) -> None:
    """What `paycore ledger check` asks: the ledger balances, and every split leg's
    transfer is in the state (and holds the amount) the leg records."""
    assert shop.runtime.ledger.check().ok
    assert FlowCheck(shop.runtime.engine, shop.runtime.clock).run().disagreements == []


def frozen_and_paid(shop: Shop, clock: ManualClock) -> str:
    """alice's leg pending for 1,980 with 2,970 already received; returns the split id."""
    fund_merchant(shop.runtime.ledger, shop.merchant_id, INCOME)
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=3_600)
    split_id = split_id_for(shop.pay(10_000).id)
    shop.alpha.then(accepted())  # the bank takes the refund and answers later
    first = shop.splits.refund(
        merchant_id=None, split_id=split_id, amount=4_000, idempotency_key="first"
    )
    shop.splits.confirm(merchant_id=None, split_id=split_id)  # alice is paid the 2,970 left
    shop.alpha.then(declined("refund_declined"))
    clock.advance(600)
    shop.runtime.payments.query_now([first["refund_order_id"]])
    shop.runtime.janitor.sweep()
    shop.splits.tick()  # the undo freezes alice's 1,980 again

    leg = shop.splits.get(merchant_id=None, split_id=split_id).leg_of("alice")
    assert (leg.state, leg.frozen, leg.received, leg.clawed) == (
        LegState.PENDING,
        FROZEN_AGAIN,
        PAID,
        0,
    )
    alice = shop.wallet("alice")
    assert (alice.balance, alice.incoming) == (PAID, FROZEN_AGAIN)
    split = shop.splits.get(merchant_id=None, split_id=split_id)
    assert split.status is SplitStatus.PARTIALLY_CONFIRMED  # alice was paid part of it
    consistent(shop)
    return split_id


def test_a_refund_takes_a_partly_paid_legs_share_from_its_hold_and_the_rest_from_its_wallet(
    shop: Shop, clock: ManualClock
) -> None:
    split_id = frozen_and_paid(shop, clock)

    shop.refund_answers()
    refund = shop.splits.refund(
        merchant_id=None, split_id=split_id, amount=5_000, idempotency_key="second"
    )

    assert (refund["status"], refund["failure_code"]) == ("refunded", None)
    [claw] = refund["claws"]
    assert (claw["share"], claw["from_frozen"], claw["from_wallet"], claw["as_debt"]) == (
        SHARE,
        FROZEN_AGAIN,
        BEYOND_HOLD,
        0,
    )
    alice = shop.wallet("alice")
    assert (alice.balance, alice.incoming, alice.debt) == (PAID - BEYOND_HOLD, 0, 0)
    assert shop.net("alice") == 4_950 - SHARE
    # The merchant: its net and other income, less what alice was paid, plus what her
    # wallet gave back, less the refund; nothing of it frozen any more.
    merchant = NET + INCOME - PAID + BEYOND_HOLD - 5_000
    assert merchant_wallet(shop) == (merchant, merchant)
    split = shop.splits.get(merchant_id=None, split_id=split_id)
    leg = split.leg_of("alice")
    assert (leg.frozen, leg.received, leg.clawed, leg.remaining) == (
        0,
        PAID,
        BEYOND_HOLD,
        4_950 - SHARE,
    )
    assert leg.state is LegState.VOIDED  # the hold it names was voided
    assert split.status is SplitStatus.SETTLED  # nothing frozen, alice keeps 2,475
    assert split.refunded == 5_000
    payin = shop.runtime.payments.get(merchant_id=None, order_id=split.payin_id)
    assert payin.refunded_amount == 5_000
    consistent(shop)


@pytest.fixture
def outside(shop: Shop) -> None:
    from paycore.ledger.service import AccountRequest

    shop.runtime.ledger.create_account(AccountRequest(id="acct_test_outside_CNY", currency="CNY"))


def test_what_neither_the_hold_nor_the_wallet_covers_becomes_alices_debt(
    shop: Shop, clock: ManualClock, outside: None
) -> None:
    split_id = frozen_and_paid(shop, clock)
    spent = PAID - 100  # alice pays most of it out: 100 left in her wallet
    [moved] = shop.runtime.ledger.create_transfers(
        [
            TransferRequest(
                id="tr_test_spend_alice",
                debit_account_id=wallet_account(shop.merchant_id, "alice", "CNY"),
                credit_account_id="acct_test_outside_CNY",
                amount=spent,
                currency="CNY",
            )
        ]
    )
    assert moved.result == "created"

    shop.refund_answers()
    refund = shop.splits.refund(
        merchant_id=None, split_id=split_id, amount=5_000, idempotency_key="second"
    )

    assert refund["status"] == "refunded"
    [claw] = refund["claws"]
    assert (claw["from_frozen"], claw["from_wallet"], claw["as_debt"]) == (
        FROZEN_AGAIN,
        100,
        BEYOND_HOLD - 100,
    )
    alice = shop.wallet("alice")
    assert (alice.balance, alice.incoming, alice.debt) == (0, 0, BEYOND_HOLD - 100)
    merchant = NET + INCOME - PAID + BEYOND_HOLD - 5_000
    assert merchant_wallet(shop) == (merchant, merchant)
    consistent(shop)


def test_a_declined_refund_of_a_partly_paid_leg_gives_each_part_back_where_it_came_from(
    shop: Shop, clock: ManualClock
) -> None:
    split_id = frozen_and_paid(shop, clock)
    before = merchant_wallet(shop)

    shop.refund_answers(ok=False)
    refund = shop.splits.refund(
        merchant_id=None, split_id=split_id, amount=5_000, idempotency_key="second"
    )

    assert (refund["status"], refund["failure_code"]) == ("failed", "refund_declined")
    alice = shop.wallet("alice")
    assert (alice.balance, alice.incoming) == (PAID, FROZEN_AGAIN)
    assert merchant_wallet(shop) == before
    split = shop.splits.get(merchant_id=None, split_id=split_id)
    leg = split.leg_of("alice")
    assert (leg.state, leg.frozen, leg.received, leg.clawed) == (
        LegState.PENDING,
        FROZEN_AGAIN,
        PAID,
        0,
    )
    assert (split.refunded, split.status) == (0, SplitStatus.PARTIALLY_CONFIRMED)
    consistent(shop)


# -- the plans, for every such leg (no database) --------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MERCHANT = merchant_books.wallet_account("m1", "CNY")
HOLD, VOID = TransferFlags.PENDING.value, TransferFlags.VOID_PENDING.value


def hand_built(leg: Leg) -> Split:
    return Split(
        id="spl_p",
        merchant_id="m1",
        payin_id="pay_p",
        rule_id="srl_p",
        product="goods",
        currency="CNY",
        mode=SplitMode.DELAYED,
        freeze_s=3_600,
        payin_amount=10**9,
        base=10**9,
        legs=[leg],
        status=status_of([leg]),
        created_at=T0,
        updated_at=T0,
        expires_at=T0 + timedelta(seconds=3_600),
    )


@st.composite
def partly_paid_claws(draw: st.DrawFn) -> tuple[Split, Claw]:
    """A pending leg that was also paid, and a claw of it as a refund takes it: from the
    hold at most what it holds, the rest from the wallet and as a debt."""
    frozen = draw(st.integers(1, 10**6))
    received = draw(st.integers(1, 10**6))
    clawed = draw(st.integers(0, received - 1))
    owner = draw(st.sampled_from(["ann", None]))  # None: the commission
    leg = Leg("r0", owner, frozen + received, LegState.PENDING, "tr_spl_p_r0_f", frozen,
              received, clawed)  # fmt: skip
    share = draw(st.integers(1, leg.remaining))
    from_frozen = min(share, frozen)
    from_wallet = draw(st.integers(0, share - from_frozen))
    as_debt = share - from_frozen - from_wallet if owner else 0
    from_wallet = share - from_frozen - as_debt
    return hand_built(leg), Claw("r0", share, from_frozen, from_wallet, as_debt)


def merchant_gain(plan: Plan, hold_before: int) -> int:
    """What a plan's transfers leave in the merchant's wallet's available balance: a
    voided hold gives back what it held, a new hold takes what it freezes."""
    gain = 0
    for t in plan.transfers:
        if t.flags & VOID:
            gain += hold_before
        elif t.flags & HOLD:
            gain -= t.amount or 0
        elif t.credit_account_id == MERCHANT:
            gain += t.amount or 0
        elif t.debit_account_id == MERCHANT:
            gain -= t.amount or 0
    return gain


@given(partly_paid_claws())
def test_a_claw_back_of_a_partly_paid_leg_gives_the_merchant_its_share_and_no_more(
    case: tuple[Split, Claw],
) -> None:
    split, claw = case
    before = split.legs[0]

    plan = clawback_plan(split, [claw], "tr_spl_p_3", T0)

    (after,) = plan.legs
    assert all(t.amount is None or t.amount > 0 for t in plan.transfers)
    assert merchant_gain(plan, before.frozen) == claw.share
    assert after.frozen == before.frozen - claw.from_frozen >= 0
    assert (after.received, after.remaining) == (before.received, before.remaining - claw.share)
    assert after.state is (LegState.PENDING if after.frozen else LegState.VOIDED)


@given(partly_paid_claws())
def test_undoing_a_claw_back_of_a_partly_paid_leg_gives_it_all_back_where_it_was(
    case: tuple[Split, Claw],
) -> None:
    split, claw = case
    before = split.legs[0]
    split.legs = clawback_plan(split, [claw], "tr_spl_p_3", T0).legs
    clawed = split.legs[0]

    plan = undo_plan(split, [claw], "tr_spl_p_4", T0)

    (undone,) = plan.legs
    assert merchant_gain(plan, clawed.frozen if clawed.state is LegState.PENDING else 0) == (
        -claw.share
    )
    assert (undone.state, undone.frozen, undone.received, undone.clawed) == (
        before.state,
        before.frozen,
        before.received,
        before.clawed,
    )


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (LegState.PENDING, SplitStatus.PARTIALLY_CONFIRMED),
        (LegState.VOIDED, SplitStatus.SETTLED),
        (LegState.EXPIRED, SplitStatus.SETTLED),
    ],
)
def test_a_leg_paid_before_its_hold_was_frozen_again_counts_as_paid(
    state: LegState, status: SplitStatus
) -> None:
    paid = Leg("r0", "ann", 100, state, "tr_spl_p_r0_f", received=60)
    assert status_of([paid]) is status
