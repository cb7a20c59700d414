"""The ledger transfers each split operation posts, and the legs it leaves, pinned field by
field on hand-built splits (no database): ids, accounts, amounts, flags, reasons,
timeouts and metadata. Account ids come from the wallets and payments modules, which own
them; the reasons (30 split .. 34 undo) are the documented transfer codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from paycore.clock import ManualClock
from paycore.ledger.model import TransferFlags, TransferRequest
from paycore.payments.bookkeeping import wallet_account as merchant_wallet
from paycore.split.bookkeeping import (
    Claw,
    apply_plan,
    cancel_plan,
    clawback_plan,
    commission_account,
    confirm_plan,
    is_commission,
    remaining_s,
    undo_plan,
)
from paycore.split.model import (
    COMMISSION,
    Leg,
    LegState,
    Share,
    Split,
    SplitMode,
    SplitStatus,
    split_id_for,
)
from paycore.wallets.model import receivable_account, wallet_account
from tests.payments.fakes import accepted, declined
from tests.split.conftest import Shop, fund_merchant

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MERCHANT = merchant_wallet("m1", "CNY")
ANN = wallet_account("m1", "ann", "CNY")
BOB = wallet_account("m1", "bob", "CNY")
ANN_DEBT = receivable_account("m1", "ann", "CNY")
LINKED, PENDING = TransferFlags.LINKED.value, TransferFlags.PENDING.value
POST, VOID = TransferFlags.POST_PENDING.value, TransferFlags.VOID_PENDING.value


def leg(key: str, owner: str | None, state: LegState, amount: int, **money: int) -> Leg:
    return Leg(key, owner, amount, state, f"tr_spl_b_{key}", **money)


def split(
    *legs: Leg, mode: SplitMode = SplitMode.DELAYED, expires_in_s: float | None = None
) -> Split:
    return Split(
        id="spl_b",
        merchant_id="m1",
        payin_id="pay_b",
        rule_id="srl_b",
        product="goods",
        currency="CNY",
        mode=mode,
        freeze_s=7_200,
        payin_amount=10_000,
        base=9_900,
        legs=list(legs),
        status=SplitStatus.RECORDED,
        created_at=T0,
        updated_at=T0,
        expires_at=None if expires_in_s is None else T0 + timedelta(seconds=expires_in_s),
    )


def meta(op: str) -> dict[str, str]:
    return {"split_id": "spl_b", "payin_id": "pay_b", "op": op}


def move(id_: str, dr: str, cr: str, amount: int, reason: int, flags: int = 0) -> TransferRequest:
    return TransferRequest(
        id_, dr, cr, amount, "CNY", flags, code=reason, metadata=meta(str(reason))
    )


def freeze(id_: str, cr: str, amount: int, timeout_s: int, flags: int = 0) -> TransferRequest:
    held = move(id_, MERCHANT, cr, amount, reason=30, flags=PENDING | flags)
    return replace(held, timeout_s=timeout_s, metadata=meta("freeze"))


def void(id_: str, pending_id: str, flags: int = 0) -> TransferRequest:
    return TransferRequest(
        id=id_, pending_id=pending_id, flags=VOID | flags, code=32, metadata=meta("void")
    )


def test_the_platforms_split_commission_has_one_account_per_currency() -> None:
    assert commission_account("CNY") == "acct_splitcom_CNY"
    assert commission_account("USD") == "acct_splitcom_USD"


def test_only_the_commission_leg_is_the_commission() -> None:
    assert is_commission(leg(COMMISSION, None, LegState.PLANNED, 5))
    assert not is_commission(leg("r0", "ann", LegState.PLANNED, 5))


# -- remaining_s ---------------------------------------------------------------------------


def test_a_split_without_an_expiry_has_no_time_left() -> None:
    assert remaining_s(split(), T0) == 0


def test_time_left_rounds_a_part_second_up_and_is_never_negative() -> None:
    s = split(expires_in_s=10)
    assert remaining_s(s, T0) == 10
    assert remaining_s(s, T0 + timedelta(seconds=9.5)) == 1  # half a second still counts
    assert remaining_s(s, T0 + timedelta(seconds=10)) == 0  # due exactly now
    assert remaining_s(s, T0 + timedelta(seconds=25)) == 0  # overdue


# -- the split itself ----------------------------------------------------------------------


def planned() -> list[Leg]:
    return [leg("r0", "ann", LegState.PLANNED, 300), leg(COMMISSION, None, LegState.PLANNED, 50)]


def test_an_immediate_split_moves_each_part_from_the_merchant_linked_as_one() -> None:
    s = split(*planned(), mode=SplitMode.IMMEDIATE)
    plan = apply_plan(s)
    assert plan.transfers == [
        move("tr_spl_b_r0", MERCHANT, ANN, 300, 30, flags=LINKED),
        move("tr_spl_b_com", MERCHANT, "acct_splitcom_CNY", 50, 30),  # the last closes the chain
    ]
    assert [(x.state, x.received, x.frozen) for x in plan.legs] == [
        (LegState.POSTED, 300, 0),
        (LegState.POSTED, 50, 0),
    ]
    assert all(x.state is LegState.PLANNED for x in s.legs)  # the split itself is untouched


def test_a_delayed_split_freezes_each_part_for_the_rules_time() -> None:
    plan = apply_plan(split(*planned(), mode=SplitMode.DELAYED))
    assert plan.transfers == [
        freeze("tr_spl_b_r0", ANN, 300, 7_200, flags=LINKED),
        freeze("tr_spl_b_com", "acct_splitcom_CNY", 50, 7_200),
    ]
    assert [(x.state, x.frozen, x.received) for x in plan.legs] == [
        (LegState.PENDING, 300, 0),
        (LegState.PENDING, 50, 0),
    ]


def test_a_single_transfer_is_not_linked_to_anything() -> None:
    plan = apply_plan(split(leg("r0", "ann", LegState.PLANNED, 9), mode=SplitMode.IMMEDIATE))
    assert [t.flags for t in plan.transfers] == [0]


def test_three_transfers_link_the_first_two_to_the_next() -> None:
    legs = [leg(f"r{i}", f"u{i}", LegState.PLANNED, 5) for i in range(3)]
    plan = apply_plan(split(*legs, mode=SplitMode.DELAYED))
    assert [t.flags for t in plan.transfers] == [PENDING | LINKED, PENDING | LINKED, PENDING]


# -- confirm and cancel --------------------------------------------------------------------


def frozen() -> Split:
    return split(
        leg("r0", "ann", LegState.PENDING, 300, frozen=300),
        leg("r1", "bob", LegState.POSTED, 200, received=200),
        leg("r2", "cy", LegState.PENDING, 100, frozen=100),
        leg(COMMISSION, None, LegState.PENDING, 50, frozen=50),
    )


def test_confirming_posts_the_chosen_amount_of_each_named_hold() -> None:
    plan = confirm_plan(frozen(), {"r0": 120, COMMISSION: 50}, "tr_spl_b_1")

    def post(id_: str, pending_id: str, amount: int, flags: int = 0) -> TransferRequest:
        return TransferRequest(id_, pending_id=pending_id, amount=amount, flags=POST | flags,
                               code=31, metadata=meta("confirm"))  # fmt: skip

    assert plan.transfers == [
        post("tr_spl_b_1_r0", "tr_spl_b_r0", 120, flags=LINKED),
        post("tr_spl_b_1_com", "tr_spl_b_com", 50),
    ]
    r0, r1, r2, com = plan.legs
    assert (r0.state, r0.frozen, r0.received) == (LegState.POSTED, 0, 120)
    assert (com.state, com.frozen, com.received) == (LegState.POSTED, 0, 50)
    assert (r2.state, r2.frozen, r2.received) == (LegState.PENDING, 100, 0)  # not named
    assert (r1.state, r1.received) == (LegState.POSTED, 200)


def test_confirming_a_hold_adds_to_what_the_leg_already_received() -> None:
    # A claw-back's undo can freeze part of a leg that was confirmed meanwhile: the
    # next confirmation must add to what it received, not replace it.
    s = split(leg("r0", "ann", LegState.PENDING, 4_950, frozen=1_980, received=2_970))
    (r0,) = confirm_plan(s, {"r0": 1_980}, "tr_spl_b_1").legs
    assert (r0.state, r0.frozen, r0.received) == (LegState.POSTED, 0, 4_950)


def test_cancelling_voids_every_hold_and_leaves_paid_legs_alone() -> None:
    plan = cancel_plan(frozen(), "tr_spl_b_2")
    assert plan.transfers == [
        void("tr_spl_b_2_r0", "tr_spl_b_r0", flags=LINKED),
        void("tr_spl_b_2_r2", "tr_spl_b_r2", flags=LINKED),
        void("tr_spl_b_2_com", "tr_spl_b_com"),
    ]
    assert [(x.state, x.frozen) for x in plan.legs] == [
        (LegState.VOIDED, 0),
        (LegState.POSTED, 0),
        (LegState.VOIDED, 0),
        (LegState.VOIDED, 0),
    ]


# -- claw-back -----------------------------------------------------------------------------


def test_clawing_back_all_of_a_hold_voids_it_and_the_leg_with_it() -> None:
    s = split(leg("r0", "ann", LegState.PENDING, 300, frozen=300), expires_in_s=600)
    plan = clawback_plan(s, [Claw("r0", 300, from_frozen=300)], "tr_spl_b_3", T0)
    assert plan.transfers == [void("tr_spl_b_3_r0_v", "tr_spl_b_r0")]
    (r0,) = plan.legs
    assert (r0.state, r0.frozen, r0.clawed) == (LegState.VOIDED, 0, 0)


def test_clawing_back_part_of_a_hold_freezes_the_rest_again_for_the_time_left() -> None:
    s = split(leg("r0", "ann", LegState.PENDING, 300, frozen=300), expires_in_s=600)
    plan = clawback_plan(s, [Claw("r0", 120, from_frozen=120)], "tr_spl_b_3", T0)
    assert plan.transfers == [
        void("tr_spl_b_3_r0_v", "tr_spl_b_r0", flags=LINKED),
        freeze("tr_spl_b_3_r0_f", ANN, 180, 600),
    ]
    (r0,) = plan.legs
    assert (r0.state, r0.frozen, r0.clawed) == (LegState.PENDING, 180, 0)
    assert r0.transfer_id == "tr_spl_b_3_r0_f"  # the new hold is the one to confirm
    assert s.legs[0].transfer_id == "tr_spl_b_r0"


def test_a_paid_leg_gives_back_from_its_wallet_what_the_wallet_covers() -> None:
    s = split(leg("r0", "ann", LegState.POSTED, 300, received=300, clawed=20))
    plan = clawback_plan(s, [Claw("r0", 100, from_wallet=100)], "tr_spl_b_4", T0)
    assert plan.transfers == [move("tr_spl_b_4_r0_w", ANN, MERCHANT, 100, 33)]  # no debt
    assert plan.legs[0].clawed == 120
    assert s.legs[0].clawed == 20


def test_what_the_wallet_cannot_cover_is_booked_as_a_debt_on_its_receivable() -> None:
    s = split(leg("r0", "ann", LegState.POSTED, 300, received=300))
    plan = clawback_plan(s, [Claw("r0", 100, from_wallet=30, as_debt=70)], "tr_spl_b_4", T0)
    assert plan.transfers == [
        move("tr_spl_b_4_r0_w", ANN, MERCHANT, 30, 33, flags=LINKED),
        move("tr_spl_b_4_r0_d", ANN_DEBT, MERCHANT, 70, 33),
    ]
    assert plan.legs[0].clawed == 100


def test_an_empty_wallet_gives_back_nothing_and_owes_it_all() -> None:
    s = split(leg("r0", "ann", LegState.POSTED, 300, received=300))
    plan = clawback_plan(s, [Claw("r0", 100, as_debt=100)], "tr_spl_b_4", T0)
    assert plan.transfers == [move("tr_spl_b_4_r0_d", ANN_DEBT, MERCHANT, 100, 33)]
    assert plan.legs[0].clawed == 100


def test_the_paid_commission_gives_back_from_the_commission_account_and_never_owes() -> None:
    s = split(leg(COMMISSION, None, LegState.POSTED, 50, received=50))
    plan = clawback_plan(s, [Claw(COMMISSION, 10, from_wallet=8, as_debt=2)], "tr_spl_b_5", T0)
    assert plan.transfers == [move("tr_spl_b_5_com_w", "acct_splitcom_CNY", MERCHANT, 8, 33)]
    assert plan.legs[0].clawed == 10


def test_a_claw_back_over_several_legs_is_one_linked_chain() -> None:
    s = split(
        leg("r0", "ann", LegState.POSTED, 300, received=300),
        leg("r1", "bob", LegState.PENDING, 200, frozen=200),
        expires_in_s=60,
    )
    claws = [Claw("r1", 50, from_frozen=50), Claw("r0", 40, from_wallet=40)]
    plan = clawback_plan(s, claws, "tr_spl_b_6", T0)
    assert plan.transfers == [
        void("tr_spl_b_6_r1_v", "tr_spl_b_r1", flags=LINKED),
        freeze("tr_spl_b_6_r1_f", BOB, 150, 60, flags=LINKED),
        move("tr_spl_b_6_r0_w", ANN, MERCHANT, 40, 33),
    ]


# -- undo a claw-back ----------------------------------------------------------------------


def test_undoing_gives_a_paid_leg_its_whole_share_back_debt_included() -> None:
    s = split(leg("r0", "ann", LegState.POSTED, 300, received=300, clawed=100))
    plan = undo_plan(s, [Claw("r0", 100, from_wallet=30, as_debt=70)], "tr_spl_b_7", T0)
    assert plan.transfers == [move("tr_spl_b_7_r0_w", MERCHANT, ANN, 100, 34)]
    assert plan.legs[0].clawed == 0
    assert s.legs[0].clawed == 100


def test_undoing_a_partial_hold_claw_back_freezes_the_whole_part_again() -> None:
    # The claw-back left 180 of 300 frozen under its own hold; the undo voids that hold
    # and freezes all 300 again for the time the split has left.
    s = split(leg("r0", "ann", LegState.PENDING, 300, frozen=180), expires_in_s=90.2)
    plan = undo_plan(s, [Claw("r0", 120, from_frozen=120)], "tr_spl_b_8", T0)
    assert plan.transfers == [
        void("tr_spl_b_8_r0_v", "tr_spl_b_r0", flags=LINKED),
        freeze("tr_spl_b_8_r0_f", ANN, 300, 91),
    ]
    (r0,) = plan.legs
    assert (r0.state, r0.frozen, r0.transfer_id) == (LegState.PENDING, 300, "tr_spl_b_8_r0_f")


def test_undoing_a_whole_hold_claw_back_freezes_it_again_without_a_void() -> None:
    s = split(leg("r0", "ann", LegState.VOIDED, 300), expires_in_s=600)
    plan = undo_plan(s, [Claw("r0", 300, from_frozen=300)], "tr_spl_b_8", T0)
    assert plan.transfers == [freeze("tr_spl_b_8_r0_f", ANN, 300, 600)]
    (r0,) = plan.legs
    assert (r0.state, r0.frozen) == (LegState.PENDING, 300)


def test_undoing_a_hold_and_a_paid_part_together_gives_both_back_in_one_chain() -> None:
    s = split(
        leg("r1", "bob", LegState.PENDING, 200, frozen=150),
        leg("r0", "ann", LegState.POSTED, 300, received=300, clawed=40),
        expires_in_s=60,
    )
    claws = [Claw("r1", 50, from_frozen=50), Claw("r0", 40, from_wallet=40)]
    plan = undo_plan(s, claws, "tr_spl_b_10", T0)
    assert plan.transfers == [
        void("tr_spl_b_10_r1_v", "tr_spl_b_r1", flags=LINKED),
        freeze("tr_spl_b_10_r1_f", BOB, 200, 60, flags=LINKED),
        move("tr_spl_b_10_r0_w", MERCHANT, ANN, 40, 34),
    ]
    assert [(x.frozen, x.clawed) for x in plan.legs] == [(200, 0), (0, 0)]


def test_past_the_expiry_the_merchant_keeps_an_undone_hold() -> None:
    s = split(leg("r0", "ann", LegState.VOIDED, 300), expires_in_s=600)
    plan = undo_plan(s, [Claw("r0", 300, from_frozen=300)], "tr_spl_b_8", T0 + timedelta(hours=1))
    assert plan.transfers == []
    (r0,) = plan.legs
    assert (r0.state, r0.frozen, r0.transfer_id) == (LegState.VOIDED, 0, "tr_spl_b_r0")


def test_undoing_several_legs_is_one_linked_chain_and_skips_only_expired_holds() -> None:
    s = split(
        leg("r1", "bob", LegState.VOIDED, 200),  # its hold was clawed back whole
        leg("r0", "ann", LegState.POSTED, 300, received=300, clawed=40),
        leg(COMMISSION, None, LegState.POSTED, 50, received=50, clawed=5),
        expires_in_s=None,  # no time left: bob's hold is the merchant's now
    )
    claws = [
        Claw("r1", 200, from_frozen=200),
        Claw("r0", 40, from_wallet=40),
        Claw(COMMISSION, 5, from_wallet=5),
    ]
    plan = undo_plan(s, claws, "tr_spl_b_9", T0)
    assert plan.transfers == [
        move("tr_spl_b_9_r0_w", MERCHANT, ANN, 40, 34, flags=LINKED),
        move("tr_spl_b_9_com_w", MERCHANT, "acct_splitcom_CNY", 5, 34),
    ]
    assert [(x.state, x.frozen, x.clawed) for x in plan.legs] == [
        (LegState.VOIDED, 0, 0),
        (LegState.POSTED, 0, 0),
        (LegState.POSTED, 0, 0),
    ]


# -- a claw-back at the very end of the freeze (a defect, fixed) ----------------------------


def test_clawing_back_part_of_a_hold_with_no_time_left_gives_the_rest_to_the_merchant() -> None:
    # A pending transfer with timeout 0 never expires: re-freezing the rest with the 0
    # seconds left would hold it for good. Past the expiry it is the merchant's, as the
    # expiry gives it (and as an undo past it leaves it).
    s = split(leg("r0", "ann", LegState.PENDING, 300, frozen=300), expires_in_s=600)
    due = T0 + timedelta(seconds=600)
    plan = clawback_plan(s, [Claw("r0", 120, from_frozen=120)], "tr_spl_b_3", due)
    assert plan.transfers == [void("tr_spl_b_3_r0_v", "tr_spl_b_r0")]
    (r0,) = plan.legs
    assert (r0.state, r0.frozen, r0.clawed) == (LegState.EXPIRED, 0, 0)


def test_a_part_confirmed_while_its_claw_back_was_undone_is_recorded_in_full(
    shop: Shop, clock: ManualClock
) -> None:
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 1_000)  # pays the refund fee
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=3_600)
    payin = shop.pay(10_000)
    split_id = split_id_for(payin.id)
    shop.alpha.then(accepted())  # the bank takes the refund and answers later
    refund = shop.splits.refund(
        merchant_id=None, split_id=split_id, amount=4_000, idempotency_key="r"
    )
    shop.splits.confirm(merchant_id=None, split_id=split_id)  # alice is paid the 2970 left
    shop.alpha.then(declined("refund_declined"))
    clock.advance(600)
    shop.runtime.payments.query_now([refund["refund_order_id"]])
    shop.runtime.janitor.sweep()
    shop.splits.tick()  # the undo freezes alice's 1980 again

    split = shop.splits.confirm(merchant_id=None, split_id=split_id)

    assert shop.net("alice") == 4_950
    assert split.leg_of("alice").received == 4_950  # the record agrees with her wallet
    assert shop.runtime.ledger.check().ok


def test_a_refund_just_past_the_expiry_does_not_freeze_the_rest_for_good(
    shop: Shop, clock: ManualClock
) -> None:
    # The first claw-back freezes the rest for the 0.5 s left, rounded up to 1 s, so the
    # hold outlives the split's expiry by half a second; a second refund in that half
    # second finds no time left.
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 1_000)  # pays the refund fee
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=60)
    split_id = split_id_for(shop.pay(10_000).id)
    for key, at in (("r1", 59.5), ("r2", 0.7)):
        clock.advance(at)
        shop.refund_answers()
        done = shop.splits.refund(
            merchant_id=None, split_id=split_id, amount=1_000, idempotency_key=key
        )
        assert done["status"] == "refunded"

    clock.advance(3_600)
    shop.splits.tick()

    assert shop.wallet("alice").incoming == 0  # nothing frozen for her any more
    split = shop.splits.get(merchant_id=None, split_id=split_id)
    assert split.status is SplitStatus.EXPIRED
    assert shop.runtime.ledger.check().ok
