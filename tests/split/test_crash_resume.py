"""A crash between writing an operation and posting it, or between the claw-back and
the refund, is resumed by the tick: money moves once."""

from __future__ import annotations

from typing import Any

import pytest

from paycore.clock import ManualClock
from paycore.payments.model import OrderKind
from paycore.payments.service import Payments
from paycore.split.model import Share, SplitMode, SplitStatus, split_id_for
from tests.payments.fakes import succeeded
from tests.split.conftest import Shop, fund_merchant


class Crash(Exception):
    pass


def test_a_confirmation_cut_off_before_the_ledger_is_finished_by_the_tick_once(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=600)
    split_id = split_id_for(shop.pay(10_000).id)
    ledger = shop.runtime.ledger
    real = ledger.create_transfers

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(ledger, "create_transfers", crash)
    with pytest.raises(Crash):
        shop.splits.confirm(merchant_id=None, split_id=split_id)
    monkeypatch.setattr(ledger, "create_transfers", real)
    assert shop.net("alice") == 0

    shop.splits.tick()
    shop.splits.tick()

    split = shop.splits.get(merchant_id=None, split_id=split_id)
    assert (split.status, split.pending_op) == (SplitStatus.SETTLED, {})
    assert shop.net("alice") == 4_950
    assert ledger.check().ok


def test_a_refund_cut_off_after_the_claw_back_is_finished_by_the_tick_without_a_second_claw(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 1_000)
    split_id = split_id_for(payin.id)

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(Payments, "create_refund", crash)
    with pytest.raises(Crash):
        shop.splits.refund(merchant_id=None, split_id=split_id, amount=10_000, idempotency_key="r")
    assert shop.net("alice") == 0  # clawed back, not yet refunded
    monkeypatch.undo()

    shop.refund_answers()
    shop.splits.tick()
    shop.splits.tick()

    [refund] = shop.splits.refunds_of(merchant_id=None, split_id=split_id)
    assert refund["status"] == "refunded"
    assert shop.net("alice") == 0
    assert shop.runtime.payments.get(merchant_id=None, order_id=payin.id).refunded_amount == 10_000
    assert shop.runtime.ledger.check().ok


def test_a_split_whose_listener_call_was_lost_is_made_by_the_sweep(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    monkeypatch.setattr(shop.splits, "split_payin", lambda _payin: None)
    payin = shop.pay(10_000)
    monkeypatch.undo()
    assert shop.splits.list(merchant_id=None, payin_id=payin.id) == []

    clock.advance(2)
    shop.splits.tick()

    assert shop.net("alice") == 4_950


def test_a_refund_whose_request_is_still_in_flight_elsewhere_is_not_undone(
    shop: Shop, clock: ManualClock
) -> None:
    """The process asking for the refund died inside the channel call: payments holds the
    key (`request_in_progress`) while the bank may well pay the refund. The tick must wait
    for that refund's outcome, not give the claw-back back to the receiver."""
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 1_000)
    split_id = split_id_for(payin.id)
    shop.alpha.then(Crash())
    with pytest.raises(Crash):
        shop.splits.refund(merchant_id=None, split_id=split_id, amount=10_000, idempotency_key="r")
    [order] = shop.runtime.payments.list_orders(
        merchant_id=None, kind=OrderKind.REFUND, parent_id=payin.id
    )
    shop.alpha.truth[order.id] = succeeded()  # the bank did pay it back

    shop.splits.tick()  # within the payments' lease of the key: still in progress

    [refund] = shop.splits.refunds_of(merchant_id=None, split_id=split_id)
    assert refund["status"] == "refunding"
    assert shop.net("alice") == 0  # the claw-back stands
    clock.advance(120)
    shop.runtime.janitor.sweep()
    shop.splits.tick()
    [refund] = shop.splits.refunds_of(merchant_id=None, split_id=split_id)
    assert (refund["status"], refund["refund_order_id"]) == ("refunded", order.id)
    assert shop.net("alice") == 0
    assert shop.runtime.ledger.check().ok
