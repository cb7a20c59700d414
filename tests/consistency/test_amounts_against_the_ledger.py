"""Amounts against the ledger: a payout's hold posted for less than the order (the rest
released to the merchant's wallet) and a pay-in whose capture is not its order's amount
are named, each with its order and a stable code."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import update

from paycore.consistency.service import FlowCheck
from paycore.payments import bookkeeping as books
from paycore.payments.model import OrderStatus
from paycore.payments.store import orders
from tests.consistency.payments_helpers import notify, paid_payin, processing_payout
from tests.payments.conftest import World


def check(world: World) -> list[tuple[str, str, str]]:
    found = FlowCheck(world.engine, world.clock).run().disagreements
    return [(d.code, d.subject_id, d.transfer_id) for d in found]


def test_a_payout_whose_hold_was_posted_partly_behind_its_back_is_named(world: World) -> None:
    order_id = processing_payout(world, amount=8_000)
    order = world.payments.get(merchant_id=None, order_id=order_id)
    post, out = books.settle_hold(order, "alpha", reason=books.REASON_PAYOUT)
    # The flow's own ids, so its settle finds them there and goes on: 3,000 of the 8,000
    # held is released to the wallet, while the whole 8,000 leaves for the bank.
    results = world.ledger.create_transfers([replace(post, amount=5_000), out])
    assert [r.result for r in results] == ["created", "created"]

    notify(world, "payout", order_id, "succeeded", "n-partial")

    assert world.payments.get(merchant_id=None, order_id=order_id).status is (OrderStatus.SUCCEEDED)
    assert check(world) == [("payout_hold_amount_differs", order_id, f"tr_{order_id}_post")]


def test_payouts_and_pay_ins_settled_by_the_real_flows_agree_in_amount(world: World) -> None:
    paid_payin(world, amount=12_345)
    order_id = processing_payout(world, amount=8_000)
    notify(world, "payout", order_id, "succeeded", "n-full")

    assert check(world) == []


def test_a_pay_in_captured_for_another_amount_than_its_order_is_named(world: World) -> None:
    order_id = paid_payin(world, amount=10_000)
    # The ledger refuses the flow's capture under its id for another amount, so only the
    # record can move away from it (a bug or a hand edit): the order now says 12,000.
    with world.engine.begin() as conn:
        conn.execute(update(orders).where(orders.c.id == order_id).values(amount=12_000))

    assert check(world) == [("payin_capture_amount_differs", order_id, f"tr_{order_id}_cap")]
