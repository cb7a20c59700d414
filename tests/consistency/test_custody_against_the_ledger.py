"""Custody receipts against the ledger: a receipt in custody has its move into custody, and
a receipt still landing has none (beyond the moment between the two)."""

from __future__ import annotations

from sqlalchemy import update

from paycore.clock import ManualClock
from paycore.consistency.model import IN_FLIGHT_GRACE_S
from paycore.consistency.service import FlowCheck
from paycore.custody.store import receipts
from paycore.ledger.model import AccountStatus, TransferRequest
from paycore.payments import bookkeeping as books
from paycore.runtime import Runtime
from tests.custody.conftest import Desk, alpha, clock, desk, runtime

__all__ = ["alpha", "clock", "desk", "runtime"]  # the custody slice's fixtures


def check(runtime: Runtime) -> list[tuple[str, str, str]]:
    found = FlowCheck(runtime.engine, runtime.clock).run().disagreements
    return [(d.code, d.subject_id, d.transfer_id) for d in found]


def stuck_landing(desk: Desk) -> tuple[str, str, int]:
    """A receipt whose sub-account is frozen: it stays `landing`, its first id refused."""
    desk.pay("buyer1", 10_000)
    subaccount = desk.runtime.custody.get_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner="buyer1"
    ).account_id
    desk.runtime.ledger.set_account_status(subaccount, AccountStatus.FROZEN)
    payin_id = desk.pay("buyer1", 4_000)
    receipt = desk.receipt(payin_id)
    assert receipt.status == "landing" and receipt.move_attempt > 0
    desk.runtime.ledger.set_account_status(subaccount, AccountStatus.ACTIVE)
    return payin_id, subaccount, receipt.move_attempt


def test_landed_and_stuck_receipts_of_the_real_flow_agree_with_the_ledger(desk: Desk) -> None:
    stuck_landing(desk)

    assert check(desk.runtime) == []


def test_a_landing_receipt_moved_into_custody_behind_its_back_is_named_after_the_grace(
    desk: Desk, clock: ManualClock
) -> None:
    payin_id, subaccount, attempt = stuck_landing(desk)
    transfer_id = f"tr_cus_{payin_id}_in{attempt}"
    [result] = desk.runtime.ledger.create_transfers(
        [
            TransferRequest(
                id=transfer_id,
                debit_account_id=books.wallet_account(desk.merchant_id, "CNY"),
                credit_account_id=subaccount,
                amount=4_000,
                currency="CNY",
            )
        ]
    )
    assert result.result == "created"
    assert check(desk.runtime) == []  # the receipt's own update may be on its way

    clock.advance(IN_FLIGHT_GRACE_S)

    assert check(desk.runtime) == [("custody_receipt_landing_but_moved", payin_id, transfer_id)]


def test_a_receipt_said_to_be_in_custody_without_its_transfer_is_named(desk: Desk) -> None:
    payin_id, _subaccount, attempt = stuck_landing(desk)
    with desk.runtime.engine.begin() as conn:  # a bug or a hand edit: the record alone moved
        conn.execute(update(receipts).where(receipts.c.id == payin_id).values(status="unmatched"))

    assert check(desk.runtime) == [
        ("custody_receipt_in_custody_without_transfer", payin_id, f"tr_cus_{payin_id}_in{attempt}")
    ]
