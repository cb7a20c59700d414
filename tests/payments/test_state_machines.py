"""Order state machines: every transition of every kind pinned, final states stay final,
and any sequence of channel answers moves money at most once."""

from __future__ import annotations

import itertools
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycore.channels.model import ChannelResult, ChannelStatus, FailureClass
from paycore.payments.model import (
    OrderKind,
    OrderStatus,
    can_transition,
    is_resolved,
    is_terminal,
    target_status,
)
from paycore.payments.service import PayoutCommand
from tests.payments.conftest import World
from tests.payments.test_payin_flows import payin
from tests.payments.test_payout_and_refund_flows import BENEFICIARY

PAYIN, PAYOUT, REFUND = OrderKind.PAYIN, OrderKind.PAYOUT, OrderKind.REFUND
C, P, S, F, X, R = (
    OrderStatus.CREATED,
    OrderStatus.PROCESSING,
    OrderStatus.SUCCEEDED,
    OrderStatus.FAILED,
    OrderStatus.CLOSED,
    OrderStatus.RETURNED,
)

# The payments README, written out: a channel may answer finally at once (a synchronous
# success or decline) or after `processing`; only a pay-in can be closed (expired unpaid);
# only a payout leaves success, and only to `returned` (the bank sent it back days later).
ALLOWED = frozenset(
    {
        (PAYIN, C, P), (PAYIN, C, S), (PAYIN, C, F), (PAYIN, C, X),
        (PAYIN, P, S), (PAYIN, P, F), (PAYIN, P, X),
        (PAYOUT, C, P), (PAYOUT, C, S), (PAYOUT, C, F),
        (PAYOUT, P, S), (PAYOUT, P, F),
        (PAYOUT, S, R),
        (REFUND, C, P), (REFUND, C, S), (REFUND, C, F),
        (REFUND, P, S), (REFUND, P, F),
    }
)  # fmt: skip

# Statuses from which something may still happen: the janitor or a late answer can move
# them. A succeeded payout is one, since a return may still come.
OPEN = frozenset(
    {(PAYIN, C), (PAYIN, P), (PAYOUT, C), (PAYOUT, P), (PAYOUT, S), (REFUND, C), (REFUND, P)}
)

# Which order status each channel answer means, per kind; None: not decided yet (or an
# answer that kind cannot get, such as a return of a pay-in, which is ignored).
ANSWER_LEADS_TO = {
    (PAYIN, ChannelStatus.PROCESSING): None,
    (PAYIN, ChannelStatus.SUCCEEDED): S,
    (PAYIN, ChannelStatus.FAILED): F,
    (PAYIN, ChannelStatus.CLOSED): X,
    (PAYIN, ChannelStatus.RETURNED): None,
    (PAYIN, ChannelStatus.NOT_FOUND): None,
    (PAYOUT, ChannelStatus.PROCESSING): None,
    (PAYOUT, ChannelStatus.SUCCEEDED): S,
    (PAYOUT, ChannelStatus.FAILED): F,
    (PAYOUT, ChannelStatus.CLOSED): F,  # a closed payout is one that will never be paid
    (PAYOUT, ChannelStatus.RETURNED): R,
    (PAYOUT, ChannelStatus.NOT_FOUND): None,
    (REFUND, ChannelStatus.PROCESSING): None,
    (REFUND, ChannelStatus.SUCCEEDED): S,
    (REFUND, ChannelStatus.FAILED): F,
    (REFUND, ChannelStatus.CLOSED): F,
    (REFUND, ChannelStatus.RETURNED): None,
    (REFUND, ChannelStatus.NOT_FOUND): None,
}


def test_the_tables_name_every_kind_status_and_answer() -> None:
    # Guards the tables below against a new enum member nobody wrote a row for.
    assert {kind for kind, _ in ANSWER_LEADS_TO} == set(OrderKind)
    assert {answer for _, answer in ANSWER_LEADS_TO} == set(ChannelStatus)
    assert len(ANSWER_LEADS_TO) == len(OrderKind) * len(ChannelStatus)


@pytest.mark.parametrize(
    ("kind", "source", "target"), list(itertools.product(OrderKind, OrderStatus, OrderStatus))
)
def test_a_transition_is_allowed_exactly_when_the_readme_table_lists_it(
    kind: OrderKind, source: OrderStatus, target: OrderStatus
) -> None:
    assert can_transition(kind, source, target) is ((kind, source, target) in ALLOWED)


@pytest.mark.parametrize(("kind", "status"), list(itertools.product(OrderKind, OrderStatus)))
def test_a_status_is_terminal_exactly_when_nothing_can_leave_it(
    kind: OrderKind, status: OrderStatus
) -> None:
    assert is_terminal(kind, status) is ((kind, status) not in OPEN)
    # And the two tables agree: an open status has a way out, a terminal one has none.
    exits = {target for k, source, target in ALLOWED if (k, source) == (kind, status)}
    assert bool(exits) is ((kind, status) in OPEN)


@pytest.mark.parametrize("status", list(OrderStatus))
def test_only_created_and_processing_orders_are_left_for_the_janitor(status: OrderStatus) -> None:
    assert is_resolved(status) is (status not in (C, P))


@pytest.mark.parametrize(("kind", "answer"), list(ANSWER_LEADS_TO))
def test_a_channel_answer_leads_to_the_status_its_kind_gives_it(
    kind: OrderKind, answer: ChannelStatus
) -> None:
    expected = ANSWER_LEADS_TO[kind, answer]
    assert target_status(kind, ChannelResult(answer)) is expected
    if expected is not None:
        # Every status an answer leads to can be reached by that kind from somewhere.
        assert any(k is kind and target is expected for k, _, target in ALLOWED)


answers = st.sampled_from(
    [
        ChannelResult(ChannelStatus.PROCESSING),
        ChannelResult(ChannelStatus.SUCCEEDED, channel_txn_id="t1"),
        ChannelResult(ChannelStatus.FAILED, failure_code="x", failure_class=FailureClass.USER),
        ChannelResult(ChannelStatus.CLOSED),
        ChannelResult(ChannelStatus.RETURNED),
    ]
)


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
