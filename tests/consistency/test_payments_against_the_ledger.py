"""Payouts, refunds and pay-ins against the ledger: the real flows leave the check clean;
a hold voided or posted behind a flow's back (straight through the Ledger service, as a
merchant key could through the ledger API) is named with its order and code."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from paycore.clock import ManualClock
from paycore.consistency.model import IN_FLIGHT_GRACE_S, Disagreement
from paycore.consistency.service import FlowCheck
from paycore.errors import InvariantViolation
from paycore.ledger.model import TransferFlags, TransferRequest
from paycore.payments import bookkeeping as books
from paycore.payments.service import RefundCommand
from paycore.payments.store import orders
from tests.consistency.payments_helpers import (
    declined_payin,
    failed_payout,
    notify,
    paid_payin,
    processing_payout,
    succeeded_payout,
)
from tests.payments.conftest import World


def check(world: World) -> list[Disagreement]:
    return FlowCheck(world.engine, world.clock).run().disagreements


def behind_the_flows_back(world: World, transfer: TransferRequest) -> None:
    [result] = world.ledger.create_transfers([transfer])
    assert result.result == "created"


def void(hold_id: str, transfer_id: str = "tr_by_merchant_key") -> TransferRequest:
    return TransferRequest(
        id=transfer_id, pending_id=hold_id, flags=TransferFlags.VOID_PENDING.value
    )


def post(hold_id: str, transfer_id: str = "tr_by_merchant_key") -> TransferRequest:
    return TransferRequest(
        id=transfer_id, pending_id=hold_id, flags=TransferFlags.POST_PENDING.value
    )


def set_status(world: World, order_id: str, status: str) -> None:
    """What a bug in a flow or a hand edit would leave: the order moved, the ledger not."""
    with world.engine.begin() as conn:
        conn.execute(update(orders).where(orders.c.id == order_id).values(status=status))


def codes(found: list[Disagreement]) -> list[tuple[str, str, str]]:
    return [(d.code, d.subject_id, d.transfer_id) for d in found]


def test_the_double_spend_a_voided_hold_of_an_inflight_payout_fails_the_check(
    world: World,
) -> None:
    order_id = processing_payout(world, amount=20_000)
    assert check(world) == []

    behind_the_flows_back(world, void(f"tr_{order_id}_hold"))

    assert codes(check(world)) == [
        ("payout_processing_without_live_hold", order_id, f"tr_{order_id}_hold")
    ]
    assert world.ledger.check().ok  # the balances alone cannot see it


def test_a_payout_whose_hold_was_posted_behind_its_back_is_named(world: World) -> None:
    order_id = processing_payout(world, amount=20_000)

    behind_the_flows_back(world, post(f"tr_{order_id}_hold"))

    assert codes(check(world)) == [
        ("payout_processing_without_live_hold", order_id, f"tr_{order_id}_hold")
    ]


def test_the_flows_own_void_moments_before_the_order_catches_up_is_in_flight(
    world: World, clock: ManualClock
) -> None:
    order_id = processing_payout(world, amount=20_000)
    behind_the_flows_back(world, void(f"tr_{order_id}_hold", f"tr_{order_id}_void"))

    assert check(world) == []
    clock.advance(IN_FLIGHT_GRACE_S)
    assert codes(check(world)) == [
        ("payout_processing_without_live_hold", order_id, f"tr_{order_id}_hold")
    ]


def test_succeeded_returned_and_failed_payouts_of_the_real_flows_agree(world: World) -> None:
    succeeded_payout(world, amount=1_000, nid="n1")
    returned = succeeded_payout(world, amount=2_000, nid="n2")
    notify(world, "payout", returned, "returned", "n3")
    failed_payout(world, amount=3_000, key="failed")

    assert check(world) == []


def test_a_succeeded_payout_whose_hold_was_voided_is_named(world: World) -> None:
    order_id = processing_payout(world, amount=20_000)
    behind_the_flows_back(world, void(f"tr_{order_id}_hold"))
    with pytest.raises(InvariantViolation):  # the flow refuses to pay on a voided hold
        notify(world, "payout", order_id, "succeeded", "n1")
    set_status(world, order_id, "succeeded")

    assert codes(check(world)) == [
        ("payout_succeeded_hold_not_posted", order_id, f"tr_{order_id}_hold")
    ]


def test_a_failed_payout_whose_hold_was_posted_or_left_live_is_named(world: World) -> None:
    posted = processing_payout(world, amount=1_000, key="a")
    live = processing_payout(world, amount=2_000, key="b")
    behind_the_flows_back(world, post(f"tr_{posted}_hold"))
    set_status(world, posted, "failed")
    set_status(world, live, "failed")

    assert sorted(codes(check(world))) == sorted(
        [
            ("payout_failed_hold_posted", posted, f"tr_{posted}_hold"),
            ("payout_failed_hold_live", live, f"tr_{live}_hold"),
        ]
    )


def test_a_returned_payout_not_credited_back_is_named(world: World) -> None:
    order_id = succeeded_payout(world, amount=1_000, nid="n1")
    set_status(world, order_id, "returned")

    assert codes(check(world)) == [
        ("payout_returned_not_credited_back", order_id, f"tr_{order_id}_ret")
    ]


def test_a_refund_whose_hold_was_voided_behind_its_back_is_named(world: World) -> None:
    payin_id = paid_payin(world, amount=10_000)
    refund = world.payments.create_refund(
        RefundCommand(merchant_id="m2", payin_id=payin_id, amount=4_000), idempotency_key="r1"
    )
    refund_id = str(refund.body["id"])
    assert refund.body["status"] == "processing"
    assert check(world) == []

    behind_the_flows_back(world, void(f"tr_{refund_id}_hold"))

    assert codes(check(world)) == [
        ("refund_processing_without_live_hold", refund_id, f"tr_{refund_id}_hold")
    ]


def test_a_succeeded_refund_of_the_real_flow_agrees_and_a_failed_one_posted_is_named(
    world: World,
) -> None:
    payin_id = paid_payin(world, amount=10_000)
    done = world.payments.create_refund(
        RefundCommand(merchant_id="m2", payin_id=payin_id, amount=1_000), idempotency_key="r1"
    )
    notify(world, "refund", str(done.body["id"]), "succeeded", "n1")
    bad = world.payments.create_refund(
        RefundCommand(merchant_id="m2", payin_id=payin_id, amount=2_000), idempotency_key="r2"
    )
    bad_id = str(bad.body["id"])
    assert check(world) == []

    behind_the_flows_back(world, post(f"tr_{bad_id}_hold"))
    set_status(world, bad_id, "failed")

    assert codes(check(world)) == [("refund_failed_hold_posted", bad_id, f"tr_{bad_id}_hold")]


def test_a_succeeded_payin_not_settled_and_a_failed_one_settled_are_named(
    world: World,
) -> None:
    paid_payin(world, amount=10_000)
    failed = declined_payin(world, amount=5_000, key="f1")
    unsettled = declined_payin(world, amount=6_000, key="f2")
    assert check(world) == []

    order = world.payments.settler.load(failed)
    assert order is not None
    order.channel = "alpha"
    world.payments.settler.ensure_accounts(order, "alpha")
    behind_the_flows_back(world, books.payin_capture(order, "alpha")[0])
    set_status(world, unsettled, "succeeded")

    assert sorted(codes(check(world))) == sorted(
        [
            ("payin_failed_settled", failed, f"tr_{failed}_cap"),
            ("payin_succeeded_not_settled", unsettled, f"tr_{unsettled}_cap"),
        ]
    )
