"""Payouts hold the merchant's money until the bank answers; refunds never exceed what was paid."""

from __future__ import annotations

import threading

import pytest

from paycore.channels.model import (
    BankAccount,
    ChannelTimeout,
    FailureClass,
)
from paycore.errors import Rejected
from paycore.payments.janitor import NOT_FOUND_GRACE_S
from paycore.payments.model import OrderKind
from paycore.payments.service import PayoutCommand, RefundCommand
from tests.conftest import ON_POSTGRES
from tests.payments.conftest import World
from tests.payments.fakes import SECRET, callback_body, declined, succeeded
from tests.payments.test_payin_flows import payin

BENEFICIARY = BankAccount(account_number="6214830100001234", name="李四", bank_code="CMB")


def payout(amount: int, merchant: str = "m2") -> PayoutCommand:
    return PayoutCommand(
        merchant_id=merchant, amount=amount, currency="CNY", beneficiary=BENEFICIARY
    )


def notify(world: World, operation: str, order_id: str, status: str, nid: str) -> None:
    body = callback_body(
        notification_id=nid, operation=operation, reference=order_id, status=status
    )
    world.payments.handle_callback(channel="alpha", headers={"x-fake-signature": SECRET}, body=body)


def paid_payin(world: World, amount: int = 10_000) -> str:
    world.alpha.then(succeeded())
    return str(world.payments.create_payin(payin(amount, "m2"), idempotency_key="pay").body["id"])


def test_a_payout_holds_the_money_and_takes_it_when_the_bank_pays(world: World) -> None:
    world.fund("m2", 50_000)
    created = world.payments.create_payout(payout(20_000), idempotency_key="p1")

    assert created.body["status"] == "processing"
    assert world.wallet("m2") == (50_000, 30_000)
    notify(world, "payout", created.body["id"], "succeeded", "n1")

    assert world.wallet("m2") == (30_000, 30_000)
    assert world.ledger.check().ok


def test_a_failed_payout_releases_the_hold(world: World) -> None:
    world.fund("m2", 50_000)
    world.alpha.then(declined("account_closed", FailureClass.USER))
    created = world.payments.create_payout(payout(20_000), idempotency_key="p1")

    assert created.body["status"] == "failed"
    assert world.wallet("m2") == (50_000, 50_000)


def test_a_returned_payout_brings_the_money_back_with_a_new_transfer(world: World) -> None:
    world.fund("m2", 50_000)
    world.alpha.then(succeeded())
    created = world.payments.create_payout(payout(20_000), idempotency_key="p1")
    notify(world, "payout", created.body["id"], "returned", "n1")
    notify(world, "payout", created.body["id"], "returned", "n1")

    order = world.payments.get(merchant_id="m2", order_id=created.body["id"])
    assert order.status == "returned"
    assert world.wallet("m2") == (50_000, 50_000)
    history = world.ledger.entries("acct_mw_m2_CNY", limit=10)
    assert [e.transfer_id for e in history.entries][:2] == [
        f"tr_{order.id}_ret",
        f"tr_{order.id}_post",
    ]


def test_a_payout_above_the_available_balance_is_refused_and_sends_nothing(world: World) -> None:
    world.fund("m2", 1_000)
    with pytest.raises(Rejected) as refused:
        world.payments.create_payout(payout(1_001), idempotency_key="p1")

    assert refused.value.code == "insufficient_balance"
    assert world.alpha.calls == []
    assert world.wallet("m2") == (1_000, 1_000)
    replay = world.payments.create_payout(payout(1_001), idempotency_key="p1")
    assert (replay.status_code, replay.body["code"]) == (422, "insufficient_balance")


def test_a_payout_with_an_unknown_result_keeps_its_hold_until_the_janitor_learns_it_failed(
    world: World,
) -> None:
    world.fund("m2", 50_000)
    world.alpha.then(ChannelTimeout("alpha", "read timeout"))
    created = world.payments.create_payout(payout(20_000), idempotency_key="p1")
    assert world.wallet("m2") == (50_000, 30_000)
    world.alpha.truth[created.body["id"]] = declined("bank_system_error", FailureClass.CHANNEL)
    world.clock.advance(61)
    world.janitor.sweep()

    assert world.wallet("m2") == (50_000, 50_000)


def test_refunds_can_be_partial_and_repeated_up_to_the_paid_amount(world: World) -> None:
    payin_id = paid_payin(world)
    for n, amount in enumerate((3_000, 7_000)):
        world.alpha.then(succeeded())
        command = RefundCommand(merchant_id="m2", payin_id=payin_id, amount=amount)
        assert (
            world.payments.create_refund(command, idempotency_key=f"r{n}").body["status"]
            == "succeeded"
        )

    with pytest.raises(Rejected) as refused:
        world.payments.create_refund(
            RefundCommand(merchant_id="m2", payin_id=payin_id, amount=1), idempotency_key="r9"
        )
    assert refused.value.code == "refund_exceeds_refundable"
    assert world.wallet("m2") == (0, 0)
    assert world.ledger.check().ok


def test_a_failed_refund_gives_back_its_share_of_the_refundable_amount(world: World) -> None:
    payin_id = paid_payin(world)
    world.alpha.then(declined("bank_system_error", FailureClass.CHANNEL))
    world.payments.create_refund(
        RefundCommand(merchant_id="m2", payin_id=payin_id, amount=10_000), idempotency_key="r1"
    )

    payin_order = world.payments.get(merchant_id="m2", order_id=payin_id, kind=OrderKind.PAYIN)
    assert payin_order.refundable == 10_000
    assert world.wallet("m2") == (10_000, 10_000)


def test_a_refund_the_merchant_cannot_cover_is_refused(world: World) -> None:
    payin_id = paid_payin(world)
    world.alpha.then(succeeded())
    world.payments.create_payout(payout(9_000), idempotency_key="p1")
    with pytest.raises(Rejected) as refused:
        world.payments.create_refund(
            RefundCommand(merchant_id="m2", payin_id=payin_id, amount=2_000), idempotency_key="r1"
        )

    assert refused.value.code == "insufficient_balance"
    payin_order = world.payments.get(merchant_id="m2", order_id=payin_id)
    assert payin_order.refundable == 10_000


def test_concurrent_refunds_never_exceed_the_paid_amount(world: World) -> None:
    payin_id = paid_payin(world, amount=10_000)
    world.fund("m2", 100_000)
    outcomes: list[str] = []
    lock = threading.Lock()

    def refund(n: int) -> None:
        command = RefundCommand(merchant_id="m2", payin_id=payin_id, amount=3_000)
        try:
            world.payments.create_refund(command, idempotency_key=f"r{n}")
            result = "accepted"
        except Rejected as error:
            result = error.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(8 if ON_POSTGRES else 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes.count("accepted") == 3
    assert set(outcomes) == {"accepted", "refund_exceeds_refundable"}
    refunds = world.payments.list_orders(merchant_id="m2", kind=OrderKind.REFUND)
    assert sum(r.amount for r in refunds) == 9_000


def test_a_refund_goes_back_through_the_payins_channel(world: World) -> None:
    payin_id = paid_payin(world)
    world.payments.create_refund(
        RefundCommand(merchant_id="m2", payin_id=payin_id, amount=500), idempotency_key="r1"
    )
    assert world.alpha.calls[-1][0] == "refund"
    assert world.beta.calls == []


def test_a_refund_of_an_unpaid_payin_is_refused(world: World) -> None:
    created = world.payments.create_payin(payin(merchant="m2"), idempotency_key="k1")
    with pytest.raises(Rejected) as refused:
        world.payments.create_refund(
            RefundCommand(merchant_id="m2", payin_id=created.body["id"], amount=1),
            idempotency_key="r1",
        )
    assert refused.value.code == "payin_not_succeeded"


def test_a_late_success_answer_for_a_failed_payout_moves_no_money(
    world: World,
) -> None:
    world.fund("m2", 50_000)
    world.alpha.then(declined("account_closed", FailureClass.USER))
    created = world.payments.create_payout(payout(20_000), idempotency_key="p1")
    notify(world, "payout", created.body["id"], "succeeded", "n-late")

    order = world.payments.get(merchant_id="m2", order_id=created.body["id"])
    assert order.status == "failed"
    assert world.wallet("m2") == (50_000, 50_000)


def test_a_payout_the_bank_has_no_record_of_fails_only_after_the_grace_period(
    world: World,
) -> None:
    world.fund("m2", 50_000)
    world.alpha.then(ChannelTimeout("alpha", "connect timeout"))
    created = world.payments.create_payout(payout(20_000), idempotency_key="p1")
    world.alpha.truth.pop(created.body["id"], None)  # the request never arrived (yet)

    world.clock.advance(61)
    world.janitor.sweep()
    order = world.payments.get(merchant_id="m2", order_id=created.body["id"])
    assert order.status == "processing"  # it may still be on its way
    assert world.wallet("m2") == (50_000, 30_000)

    world.clock.advance(NOT_FOUND_GRACE_S)
    world.janitor.sweep()
    order = world.payments.get(merchant_id="m2", order_id=created.body["id"])
    assert order.status == "failed"
    assert order.failure is not None and order.failure.code == "not_received"
    assert world.wallet("m2") == (50_000, 50_000)


def test_a_payout_whose_process_stopped_before_the_hold_fails_cleanly_later(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.fund("m2", 50_000)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the process stops here")

    monkeypatch.setattr(world.payments._steps, "hold", crash)
    with pytest.raises(RuntimeError):
        world.payments.create_payout(payout(20_000), idempotency_key="p1")
    [order] = world.payments.list_orders(merchant_id="m2", kind=OrderKind.PAYOUT)
    assert order.status == "created"

    world.clock.advance(NOT_FOUND_GRACE_S + 61)
    world.janitor.sweep()

    order = world.payments.get(merchant_id="m2", order_id=order.id)
    assert order.status == "failed"
    assert world.alpha.calls == [("query", order.id)]
    assert world.wallet("m2") == (50_000, 50_000)
    assert world.ledger.check().ok


def test_a_replayed_full_refund_gets_its_first_answer_not_a_refusal(world: World) -> None:
    world.alpha.then(succeeded("t1"), succeeded("r1"))
    paid = world.payments.create_payin(payin(merchant="m2"), idempotency_key="p1").body["id"]
    command = RefundCommand(merchant_id="m2", payin_id=paid, amount=10_000)

    first = world.payments.create_refund(command, idempotency_key="r1")
    again = world.payments.create_refund(command, idempotency_key="r1")

    assert first.status_code == 201 and again.replayed
    assert again.body["id"] == first.body["id"]
    with pytest.raises(Rejected) as refused:
        world.payments.create_refund(command, idempotency_key="r2")
    assert refused.value.code == "refund_exceeds_refundable"
