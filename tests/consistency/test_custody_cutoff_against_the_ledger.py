"""Custody's cut-off and deals against the ledger: every state the real cut-off and deal
closes leave agrees; a receipt moved out of or back into custody behind the cut-off's back
is named after the grace; a record that says money moved where the ledger has no such
transfer (or another amount) is named with its receipt or deal and a stable code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from paycore.clock import ManualClock
from paycore.consistency.model import IN_FLIGHT_GRACE_S
from paycore.consistency.service import FlowCheck
from paycore.custody.model import ReceiptStatus, RestTo
from paycore.custody.store import deals, receipts
from paycore.ledger.model import AccountStatus, TransferRequest
from paycore.payments import bookkeeping as books
from paycore.runtime import Runtime
from tests.custody.conftest import Desk, alpha, clock, desk, runtime
from tests.custody.test_cutoff import DAY, MIDNIGHT
from tests.payments.conftest import fund_merchant
from tests.payments.fakes import declined, succeeded

__all__ = ["alpha", "clock", "desk", "runtime"]  # the custody slice's fixtures


def check(runtime: Runtime) -> list[tuple[str, str, str]]:
    found = FlowCheck(runtime.engine, runtime.clock).run().disagreements
    return [(d.code, d.subject_id, d.transfer_id) for d in found]


def closed_deal(desk: Desk, buyer: str, *, rest_to: RestTo) -> str:
    payin = desk.pay(buyer, 40_000)
    deal = desk.runtime.custody.create_deal(
        desk.merchant_id,
        bank="sandbox_custody",
        buyer=buyer,
        seller=f"seller-of-{buyer}",
        agency="agency-1",
        deposit_amount=40_000,
    )
    desk.runtime.custody.match(desk.merchant_id, receipt_id=payin, deal_id=deal.id)
    desk.runtime.custody.close_deal(
        desk.merchant_id, deal_id=deal.id, commission=5_000, rest_to=rest_to
    )
    return deal.id


def refunding_after_the_cutoff(desk: Desk, owner: str = "buyer-1") -> str:
    """A receipt the cut-off moved back and asked the bank to refund; no answer yet."""
    payin = desk.pay(owner, 10_000)
    desk.move_to(MIDNIGHT)
    desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    assert desk.receipt(payin).status is ReceiptStatus.REFUNDING
    return payin


def settle_refund(desk: Desk, payin: str, answer: Any) -> None:
    refund_id = desk.receipt(payin).refund_id
    assert refund_id is not None
    refund = desk.runtime.payments.get(merchant_id=None, order_id=refund_id)
    desk.runtime.payments.settler.apply(refund, answer)


def hand_edit(desk: Desk, table: Any, row_id: str, **values: Any) -> None:
    with desk.runtime.engine.begin() as conn:  # a bug or a hand edit: the record alone moved
        conn.execute(update(table).where(table.c.id == row_id).values(**values))


def subaccount(desk: Desk, owner: str) -> str:
    found = desk.runtime.custody.get_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner=owner
    )
    return found.account_id


def wallet(desk: Desk) -> str:
    return books.wallet_account(desk.merchant_id, "CNY")


def test_every_cutoff_and_deal_state_the_real_flows_leave_agrees_with_the_ledger(
    desk: Desk,
) -> None:
    seller_deal = closed_deal(desk, "buyer-4", rest_to=RestTo.SELLER)
    buyer_deal = closed_deal(desk, "buyer-5", rest_to=RestTo.BUYER)
    refunded, failed, open_one = (desk.pay(f"buyer-{n}", 10_000 * n) for n in (1, 2, 3))
    desk.move_to(MIDNIGHT)
    desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    settle_refund(desk, refunded, succeeded())
    settle_refund(desk, failed, declined("account_closed"))

    assert [desk.receipt(p).status for p in (refunded, failed, open_one)] == [
        ReceiptStatus.REFUNDED,
        ReceiptStatus.REFUND_FAILED,
        ReceiptStatus.REFUNDING,
    ]
    assert {desk.runtime.custody.get_deal(None, d).status for d in (seller_deal, buyer_deal)} == {
        "closed"
    }
    assert check(desk.runtime) == []


def test_a_receipt_moved_out_of_custody_before_its_cutoff_is_named_after_the_grace(
    desk: Desk, clock: ManualClock
) -> None:
    payin = desk.pay("buyer-1", 10_000)
    transfer_id = f"tr_cus_{payin}_back{desk.receipt(payin).move_attempt}"
    [result] = desk.runtime.ledger.create_transfers(
        [
            TransferRequest(
                id=transfer_id,
                debit_account_id=subaccount(desk, "buyer-1"),
                credit_account_id=wallet(desk),
                amount=10_000,
                currency="CNY",
            )
        ]
    )
    assert result.result == "created"
    assert check(desk.runtime) == []  # a cut-off's own update may be on its way

    clock.advance(IN_FLIGHT_GRACE_S)

    assert check(desk.runtime) == [
        ("custody_receipt_moved_back_before_its_step", payin, transfer_id)
    ]


def test_a_refunding_receipt_put_back_into_custody_behind_its_back_is_named_after_the_grace(
    desk: Desk, clock: ManualClock
) -> None:
    payin = refunding_after_the_cutoff(desk)
    fund_merchant(desk.runtime.ledger, desk.merchant_id, 10_000)
    transfer_id = f"tr_cus_{payin}_ret{desk.receipt(payin).move_attempt}"
    [result] = desk.runtime.ledger.create_transfers(
        [
            TransferRequest(
                id=transfer_id,
                debit_account_id=wallet(desk),
                credit_account_id=subaccount(desk, "buyer-1"),
                amount=10_000,
                currency="CNY",
            )
        ]
    )
    assert result.result == "created"
    assert check(desk.runtime) == []

    clock.advance(IN_FLIGHT_GRACE_S)

    assert check(desk.runtime) == [
        ("custody_receipt_returned_while_not_failed", payin, transfer_id)
    ]


def test_a_receipt_said_to_be_moved_back_without_its_transfer_is_named(desk: Desk) -> None:
    payin = desk.pay("buyer-1", 10_000)
    attempt = desk.receipt(payin).move_attempt
    hand_edit(desk, receipts, payin, status="refunding", cutoff_step="moved_back")

    assert check(desk.runtime) == [
        ("custody_receipt_moved_back_without_transfer", payin, f"tr_cus_{payin}_back{attempt}")
    ]


def test_a_receipt_said_to_be_returned_without_its_transfer_is_named(desk: Desk) -> None:
    payin = refunding_after_the_cutoff(desk)
    attempt = desk.receipt(payin).move_attempt
    hand_edit(desk, receipts, payin, status="refund_failed")

    assert check(desk.runtime) == [
        ("custody_receipt_returned_without_transfer", payin, f"tr_cus_{payin}_ret{attempt}")
    ]


def test_a_receipt_said_to_be_refunded_while_its_refund_is_open_is_named(desk: Desk) -> None:
    payin = refunding_after_the_cutoff(desk)
    refund_id = desk.receipt(payin).refund_id
    hand_edit(desk, receipts, payin, status="refunded")

    assert check(desk.runtime) == [
        ("custody_receipt_refunded_order_not_succeeded", payin, f"tr_{refund_id}_hold")
    ]


def test_a_closed_deal_whose_transfers_are_missing_or_for_another_amount_is_named(
    desk: Desk,
) -> None:
    moved = closed_deal(desk, "buyer-1", rest_to=RestTo.SELLER)
    unmoved = closed_deal(desk, "buyer-2", rest_to=RestTo.BUYER)
    hand_edit(desk, deals, moved, commission=6_000)
    hand_edit(desk, deals, unmoved, close_attempt=2)

    assert sorted(check(desk.runtime)) == sorted(
        [
            ("custody_deal_amount_differs", moved, f"tr_cus_{moved}_c1_com"),
            ("custody_deal_closed_without_transfer", unmoved, f"tr_cus_{unmoved}_c2_com"),
        ]
    )


def test_a_receipt_whose_next_move_id_was_taken_behind_its_back_is_named_moved_twice(
    desk: Desk,
) -> None:
    desk.pay("buyer-1", 10_000)  # opens the sub-account
    sub = subaccount(desk, "buyer-1")
    desk.runtime.ledger.set_account_status(sub, AccountStatus.FROZEN)
    payin = desk.pay("buyer-1", 4_000)  # its first move is refused: it stays landing
    taken = f"tr_cus_{payin}_in{desk.receipt(payin).move_attempt}"
    fund_merchant(desk.runtime.ledger, desk.merchant_id, 1_000)
    desk.runtime.ledger.set_account_status(sub, AccountStatus.ACTIVE)
    [result] = desk.runtime.ledger.create_transfers(
        [
            TransferRequest(
                id=taken, debit_account_id=wallet(desk), credit_account_id=sub, amount=1_000,
                currency="CNY",
            )
        ]
    )  # fmt: skip
    assert result.result == "created"

    for _ in range(2):  # the flow's retry finds its id taken for another amount, then lands
        desk.runtime.custody.tick()

    receipt = desk.receipt(payin)
    assert receipt.status is ReceiptStatus.UNMATCHED
    landed = f"tr_cus_{payin}_in{receipt.move_attempt}"
    assert check(desk.runtime) == [("custody_receipt_moved_twice", payin, landed)]
