"""A refund after split is never lost between its order and the bank: one a crash left
unsent is sent once the idempotency lease is over, one that failed without reaching the
bank is tried again with a new order, and after the last try the claw-back is given back.
Each payer is refunded once, at the bank and in the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from paycore import limits
from paycore.channels.model import ChannelUnavailable
from paycore.clock import ManualClock
from paycore.payments.model import Order, OrderKind, OrderStatus
from paycore.split.model import Share, split_id_for
from tests.split.conftest import Shop, fund_merchant


class Crash(Exception):
    """Stands for the process dying at that point."""


def refund_orders(shop: Shop, payin: Order) -> list[Order]:
    orders = shop.runtime.payments.list_orders(
        merchant_id=None, kind=OrderKind.REFUND, parent_id=payin.id
    )
    return sorted(orders, key=lambda o: o.created_at)


def refund_calls(shop: Shop) -> list[str]:
    return [reference for operation, reference in shop.alpha.calls if operation == "refund"]


def refund_and_crash_before_the_bank_call(
    shop: Shop, split_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def die(*_args: Any, **_kwargs: Any) -> Any:
        raise Crash("before the bank call")

    monkeypatch.setattr(shop.runtime.payments._steps, "dispatch", die)
    with pytest.raises(Crash):
        shop.splits.refund(merchant_id=None, split_id=split_id, amount=10_000, idempotency_key="r")
    monkeypatch.undo()


def test_a_split_refund_a_crash_left_unsent_is_sent_once_the_lease_is_over(
    shop: Shop, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 1_000)  # the fee it paid
    split_id = split_id_for(payin.id)
    refund_and_crash_before_the_bank_call(shop, split_id, monkeypatch)

    shop.splits.tick()  # inside the lease: the first request may still be running
    [waiting] = shop.splits.refunds_of(merchant_id=None, split_id=split_id)
    clock.advance(61)
    shop.refund_answers()
    shop.splits.tick()

    [refund] = shop.splits.refunds_of(merchant_id=None, split_id=split_id)
    [order] = refund_orders(shop, payin)
    assert waiting["status"] == "refunding"
    assert (refund["status"], order.status) == ("refunded", OrderStatus.SUCCEEDED)
    assert refund_calls(shop) == [order.id]
    assert shop.net("alice") == 0
    assert shop.runtime.ledger.check().ok


def test_a_split_refund_the_janitor_fails_as_never_received_is_tried_again_and_paid_once(
    shop: Shop, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 1_000)  # the fee it paid
    split_id = split_id_for(payin.id)
    refund_and_crash_before_the_bank_call(shop, split_id, monkeypatch)
    clock.advance(301)
    shop.runtime.janitor.sweep()  # the bank never heard of it: failed, not received

    clock.advance(limits.PLATFORM_PAYMENT_RETRY_AFTER_S)
    shop.refund_answers()
    shop.splits.tick()
    shop.splits.tick()

    [refund] = shop.splits.refunds_of(merchant_id=None, split_id=split_id)
    first, second = refund_orders(shop, payin)
    assert first.failure is not None and first.failure.code == "not_received"
    assert (refund["status"], refund["refund_order_id"]) == ("refunded", second.id)
    assert second.status is OrderStatus.SUCCEEDED
    assert refund_calls(shop) == [second.id]
    assert shop.runtime.payments.get(merchant_id=None, order_id=payin.id).refunded_amount == (
        10_000
    )
    assert shop.net("alice") == 0
    assert shop.runtime.ledger.check().ok


def test_a_split_refund_that_never_reaches_the_bank_gives_the_claw_back_back_after_the_last_try(
    shop: Shop, clock: ManualClock
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 1_000)  # the fee it paid
    split_id = split_id_for(payin.id)
    shop.alpha.then(
        *[ChannelUnavailable("alpha", "down") for _ in range(limits.PLATFORM_PAYMENT_TRIES_MAX)]
    )

    shop.splits.refund(merchant_id=None, split_id=split_id, amount=10_000, idempotency_key="r")
    for _ in range(limits.PLATFORM_PAYMENT_TRIES_MAX + 1):
        clock.advance(limits.PLATFORM_PAYMENT_RETRY_AFTER_S)
        shop.splits.tick()

    [refund] = shop.splits.refunds_of(merchant_id=None, split_id=split_id)
    orders = refund_orders(shop, payin)
    assert len(orders) == limits.PLATFORM_PAYMENT_TRIES_MAX
    assert {o.status for o in orders} == {OrderStatus.FAILED}
    assert (refund["status"], refund["failure_code"]) == ("failed", "all_channels_unavailable")
    assert shop.net("alice") == 4_950  # the claw-back was given back
    assert shop.runtime.payments.get(merchant_id=None, order_id=payin.id).refunded_amount == 0
    assert shop.runtime.ledger.check().ok
