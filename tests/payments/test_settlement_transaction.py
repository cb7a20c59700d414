"""How many transactions a pay-in takes, and what commits together: the ledger transfers,
the order's final state, its attempt, its merchant event and its stored answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from paycore.notifications.service import Outbox
from paycore.notifications.store import events as notification_events
from paycore.payments import store
from paycore.platform.db import WRITER
from tests.payments.conftest import World
from tests.payments.fakes import succeeded
from tests.payments.test_payin_flows import callback, payin


@contextmanager
def counting_commits(engine: Engine) -> Iterator[list[int]]:
    commits = [0]

    def count(*_args: Any) -> None:
        commits[0] += 1

    event.listen(engine, "commit", count)
    try:
        yield commits
    finally:
        event.remove(engine, "commit", count)


def test_a_payin_takes_one_transaction_to_record_one_to_answer_and_one_to_settle(
    world: World,
) -> None:
    # The first pay-in also opens the merchant's and the channel's ledger accounts.
    first = world.payments.create_payin(payin(), idempotency_key="k0")
    callback(world, first.body["id"], "succeeded", nid="n0")

    with counting_commits(world.engine) as commits:
        created = world.payments.create_payin(payin(), idempotency_key="k1")
    assert created.body["status"] == "processing"
    assert commits[0] == 2

    with counting_commits(world.engine) as commits:
        callback(world, created.body["id"], "succeeded", nid="n1")
    assert commits[0] == 1
    assert world.payments.get(merchant_id="m1", order_id=created.body["id"]).status == "succeeded"
    assert world.wallet("m1") == (19_800, 19_800)


def test_a_synchronous_success_records_in_one_transaction_and_settles_in_another(
    world: World,
) -> None:
    world.payments.create_payin(payin(), idempotency_key="k0")  # opens the accounts
    world.alpha.then(succeeded(), succeeded())
    world.payments.create_payin(payin(), idempotency_key="k1")

    with counting_commits(world.engine) as commits:
        created = world.payments.create_payin(payin(), idempotency_key="k2")
    assert created.body["status"] == "succeeded"
    assert commits[0] == 2


def test_a_settlement_whose_event_cannot_be_written_moves_no_money_and_a_retry_moves_it_once(
    world: World,
) -> None:
    created = world.payments.create_payin(payin(), idempotency_key="k1")

    def broken_outbox(*_args: Any, **_kwargs: Any) -> str:
        raise RuntimeError("the outbox is unavailable")

    world.payments.ctx.events = broken_outbox
    with pytest.raises(RuntimeError, match="outbox"):
        callback(world, created.body["id"], "succeeded", nid="n1")

    # The transfers were in the same transaction as the order and its event: all rolled back.
    assert world.wallet("m1") == (0, 0)
    order = world.payments.get(merchant_id="m1", order_id=created.body["id"])
    assert order.status == "processing"

    world.payments.ctx.events = Outbox(world.payments.ctx.cipher)
    callback(world, created.body["id"], "succeeded", nid="n1")
    callback(world, created.body["id"], "succeeded", nid="n1")

    assert world.wallet("m1") == (9_900, 9_900)
    with world.engine.connect() as conn:
        sent = conn.execute(
            select(func.count()).where(notification_events.c.object_id == created.body["id"])
        ).scalar_one()
    assert sent == 1
    assert world.ledger.check().ok


def test_a_callback_notification_is_remembered_once_without_breaking_its_transaction(
    world: World,
) -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    remembered = dict(channel="alpha", notification_id="n1", reference="pay_x", status="succeeded")
    with world.engine.connect().execution_options(**WRITER) as conn, conn.begin():
        assert store.record_callback(conn, **remembered, now=now)
        assert not store.record_callback(conn, **remembered, now=now)
        # Still usable: a duplicate neither raised nor aborted the transaction.
        assert not store.record_callback(conn, **remembered, now=now)
