"""Order state machines: no illegal transition, final states stay final, money moves once."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycore.channels.model import ChannelResult, ChannelStatus, FailureClass
from paycore.payments.model import (
    TRANSITIONS,
    OrderKind,
    OrderStatus,
    can_transition,
    is_terminal,
    target_status,
)
from paycore.payments.service import PayoutCommand
from tests.payments.conftest import World
from tests.payments.test_payin_flows import payin
from tests.payments.test_payout_and_refund_flows import BENEFICIARY

kinds = st.sampled_from(list(OrderKind))
statuses = st.sampled_from(list(OrderStatus))
answers = st.sampled_from(
    [
        ChannelResult(ChannelStatus.PROCESSING),
        ChannelResult(ChannelStatus.SUCCEEDED, channel_txn_id="t1"),
        ChannelResult(ChannelStatus.FAILED, failure_code="x", failure_class=FailureClass.USER),
        ChannelResult(ChannelStatus.CLOSED),
        ChannelResult(ChannelStatus.RETURNED),
    ]
)


@given(kinds, statuses, statuses)
def test_nothing_ever_returns_to_created_or_leaves_a_failed_or_closed_order(
    kind: OrderKind, source: OrderStatus, target: OrderStatus
) -> None:
    if can_transition(kind, source, target):
        assert target is not OrderStatus.CREATED
        assert source not in (OrderStatus.FAILED, OrderStatus.CLOSED, OrderStatus.RETURNED)
        assert not is_terminal(kind, source)


@given(kinds)
def test_only_a_payout_can_leave_success_and_only_to_returned(kind: OrderKind) -> None:
    exits = TRANSITIONS[kind].get(OrderStatus.SUCCEEDED, frozenset())
    assert exits == ({OrderStatus.RETURNED} if kind is OrderKind.PAYOUT else frozenset())


@given(kinds, answers)
def test_an_answer_leads_only_to_a_status_the_kind_has(
    kind: OrderKind, answer: ChannelResult
) -> None:
    target = target_status(kind, answer)
    reachable = {s for targets in TRANSITIONS[kind].values() for s in targets}
    assert target is None or target in reachable


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(answers, min_size=1, max_size=6))
def test_any_sequence_of_answers_to_a_payout_moves_its_money_at_most_once(
    world: World, sequence: list[ChannelResult]
) -> None:
    world.fund("m2", 1_000)
    before = world.wallet("m2")
    created = world.payments.create_payout(
        PayoutCommand(merchant_id="m2", amount=1_000, currency="CNY", beneficiary=BENEFICIARY),
        idempotency_key=str(uuid.uuid4()),
    )
    order = world.payments.get(merchant_id="m2", order_id=created.body["id"])
    seen: list[OrderStatus] = [order.status]
    for answer in sequence:
        try:
            order = world.payments.settler.apply(order, answer)
        except Exception as error:  # a contradicting answer is refused, never applied
            assert "ledger answered" in str(error)
            order = world.payments.get(merchant_id="m2", order_id=order.id)
        if seen[-1] is not order.status:
            assert can_transition(OrderKind.PAYOUT, seen[-1], order.status)
            seen.append(order.status)

    balance, available = world.wallet("m2")
    spent = {
        OrderStatus.SUCCEEDED: (1_000, 1_000),
        OrderStatus.FAILED: (0, 0),
        OrderStatus.RETURNED: (0, 0),
        OrderStatus.PROCESSING: (0, 1_000),
        OrderStatus.CREATED: (0, 1_000),
    }[order.status]
    assert (balance, available) == (before[0] - spent[0], before[1] - spent[1])
    assert world.ledger.check().ok


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(answers, min_size=1, max_size=6))
def test_any_sequence_of_answers_to_a_payin_credits_it_at_most_once(
    world: World, sequence: list[ChannelResult]
) -> None:
    before = world.wallet("m2")[0]
    created = world.payments.create_payin(payin(merchant="m2"), idempotency_key=str(uuid.uuid4()))
    order = world.payments.get(merchant_id="m2", order_id=created.body["id"])
    final_seen: OrderStatus | None = None
    for answer in sequence:
        order = world.payments.settler.apply(order, answer)
        if final_seen is not None:
            assert order.status is final_seen  # final stays final
        elif is_terminal(OrderKind.PAYIN, order.status):
            final_seen = order.status

    credited = world.wallet("m2")[0] - before
    assert credited == (10_000 if order.status is OrderStatus.SUCCEEDED else 0)
