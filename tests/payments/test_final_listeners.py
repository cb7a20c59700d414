"""What the flows built on payments rely on: a call after an order becomes final, and a
durable list of what finished when, for sweeps after a crash."""

from __future__ import annotations

from datetime import timedelta

from paycore.payments.model import Order, OrderKind, OrderStatus
from tests.payments.conftest import World
from tests.payments.fakes import declined, succeeded
from tests.payments.test_payin_flows import callback, payin


def test_a_listener_hears_each_order_once_when_it_becomes_final(world: World) -> None:
    heard: list[Order] = []
    world.payments.on_final(heard.append)
    world.alpha.then(succeeded("t1"), declined())

    paid = world.payments.create_payin(payin(), idempotency_key="k1")
    failed = world.payments.create_payin(payin(), idempotency_key="k2")
    callback(world, paid.body["id"], "succeeded", nid="again")

    assert [(o.id, o.status) for o in heard] == [
        (paid.body["id"], OrderStatus.SUCCEEDED),
        (failed.body["id"], OrderStatus.FAILED),
    ]


def test_a_failing_listener_leaves_the_order_final_and_the_next_listener_still_hears(
    world: World,
) -> None:
    heard: list[str] = []

    def broken(_order: Order) -> None:
        raise RuntimeError("a split service that is down")

    world.payments.on_final(broken)
    world.payments.on_final(lambda order: heard.append(order.id))
    world.alpha.then(succeeded("t1"))

    created = world.payments.create_payin(payin(), idempotency_key="k1")

    assert created.body["status"] == "succeeded"
    assert heard == [created.body["id"]]
    assert world.wallet("m1") == (9_900, 9_900)


def test_finished_between_lists_orders_by_when_they_became_final(world: World) -> None:
    world.alpha.then(succeeded("t1"), succeeded("t2"), declined())
    start = world.clock.now()
    first = world.payments.create_payin(payin(), idempotency_key="k1").body["id"]
    world.clock.advance(60)
    second = world.payments.create_payin(payin(product="deposit"), idempotency_key="k2")
    world.payments.create_payin(payin(), idempotency_key="k3")  # declined: not succeeded
    end = world.clock.now() + timedelta(seconds=1)

    def found(**kw: object) -> list[str]:
        orders = world.payments.finished_between(
            kind=OrderKind.PAYIN,
            status=OrderStatus.SUCCEEDED,
            **kw,  # type: ignore[arg-type]
        )
        return [o.id for o in orders]

    assert found(start=start, end=end) == [first, second.body["id"]]
    assert found(start=start, end=end, products=["deposit"]) == [second.body["id"]]
    assert found(start=start + timedelta(seconds=1), end=end) == [second.body["id"]]
    assert found(start=start, end=end, limit=1) == [first]
