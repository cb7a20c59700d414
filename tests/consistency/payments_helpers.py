"""Orders made by the real payment flows, in the states the flow check judges."""

from __future__ import annotations

from tests.payments.conftest import World
from tests.payments.fakes import SECRET, callback_body, declined, succeeded
from tests.payments.test_payin_flows import payin
from tests.payments.test_payout_and_refund_flows import payout


def notify(world: World, operation: str, order_id: str, status: str, nid: str) -> None:
    body = callback_body(
        notification_id=nid, operation=operation, reference=order_id, status=status
    )
    world.payments.handle_callback(channel="alpha", headers={"x-fake-signature": SECRET}, body=body)


def processing_payout(world: World, *, amount: int, key: str = "p1") -> str:
    """A payout the bank accepted and has not answered: its hold is live."""
    world.fund("m2", amount)
    created = world.payments.create_payout(payout(amount), idempotency_key=key)
    assert created.body["status"] == "processing"
    return str(created.body["id"])


def succeeded_payout(world: World, *, amount: int, nid: str) -> str:
    order_id = processing_payout(world, amount=amount, key=f"po-{nid}")
    notify(world, "payout", order_id, "succeeded", nid)
    return order_id


def failed_payout(world: World, *, amount: int, key: str) -> str:
    world.fund("m2", amount)
    world.alpha.then(declined())
    created = world.payments.create_payout(payout(amount), idempotency_key=key)
    assert created.body["status"] == "failed"
    return str(created.body["id"])


def paid_payin(world: World, *, amount: int, key: str = "pay") -> str:
    world.alpha.then(succeeded())
    created = world.payments.create_payin(payin(amount, "m2"), idempotency_key=key)
    assert created.body["status"] == "succeeded"
    return str(created.body["id"])


def declined_payin(world: World, *, amount: int, key: str) -> str:
    world.alpha.then(declined())
    created = world.payments.create_payin(payin(amount, "m2"), idempotency_key=key)
    assert created.body["status"] == "failed"
    return str(created.body["id"])
