"""Collection attempts and reward rows against the ledger: what the real flows leave
agrees; a transfer posted for a failed attempt or row behind the flow's back, or a
success with no transfer, is named."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from paycore.collection.store import attempts
from paycore.consistency.service import FlowCheck
from paycore.rewards.store import rows as reward_rows
from paycore.runtime import Runtime
from tests.collection.conftest import agency, alpha, local, runtime, terms, top_up
from tests.payments.http_conftest import Tenant
from tests.rewards.conftest import Shop, csv_of, shop

__all__ = ["agency", "alpha", "runtime", "shop"]  # the slices' fixtures

DUE = local(2026, 2, 1)


def check(runtime: Runtime) -> list[tuple[str, str, str]]:
    found = FlowCheck(runtime.engine, runtime.clock).run().disagreements
    return [(d.code, d.subject_id, d.transfer_id) for d in found]


def attempt_ids(runtime: Runtime) -> dict[str, str]:
    """status -> attempt id (one attempt per status in these tests)."""
    with runtime.engine.connect() as conn:
        return {r.status: r.id for r in conn.execute(select(attempts.c.id, attempts.c.status))}


def failed_then_paid(runtime: Runtime, agency: Tenant) -> dict[str, str]:
    runtime.collection.create(agency.id, terms())
    top_up(runtime, agency.id, "tenant1", 100_000)
    runtime.collection.run_due(DUE)  # the tenant's wallet is short: the attempt fails
    top_up(runtime, agency.id, "tenant1", 600_000)
    runtime.collection.run_due(DUE + timedelta(days=1))
    found = attempt_ids(runtime)
    assert set(found) == {"failed", "succeeded"}
    return found


def test_collection_attempts_of_the_real_flow_agree_with_the_ledger(
    runtime: Runtime, agency: Tenant
) -> None:
    failed_then_paid(runtime, agency)

    assert check(runtime) == []


def test_a_failed_collection_whose_transfer_was_posted_is_named(
    runtime: Runtime, agency: Tenant
) -> None:
    """The ledger never lets a failed id succeed later, so only the record can be wrong:
    an attempt marked failed after its transfer landed."""
    paid = failed_then_paid(runtime, agency)["succeeded"]
    with runtime.engine.begin() as conn:
        conn.execute(update(attempts).where(attempts.c.id == paid).values(status="failed"))

    assert check(runtime) == [("collection_failed_transfer_posted", paid, f"tr_col_{paid}_net")]


def test_a_succeeded_collection_with_no_transfer_is_named(runtime: Runtime, agency: Tenant) -> None:
    failed = failed_then_paid(runtime, agency)["failed"]
    with runtime.engine.begin() as conn:  # a bug or a hand edit: the record alone moved
        conn.execute(update(attempts).where(attempts.c.id == failed).values(status="succeeded"))

    assert check(runtime) == [("collection_succeeded_not_posted", failed, f"tr_col_{failed}_net")]


def reward_outcomes(runtime: Runtime) -> list[tuple[int, str, str | None]]:
    with runtime.engine.connect() as conn:
        query = select(reward_rows.c.position, reward_rows.c.status, reward_rows.c.transfer_id)
        found = conn.execute(query.order_by(reward_rows.c.position))
        return [(r.position, r.status, r.transfer_id) for r in found]


def test_reward_rows_of_the_real_flow_agree_and_a_paid_row_marked_failed_is_named(
    shop: Shop,
) -> None:
    shop.budget(funded=1_500)
    shop.open("alice", "bob")
    shop.pay_csv(csv_of([("alice", "1000"), ("bob", "1000")]))
    [(position, paid_status, paid_id), (_, failed_status, _)] = reward_outcomes(shop.runtime)
    assert (paid_status, failed_status) == ("paid", "failed")
    assert check(shop.runtime) == []

    with shop.runtime.engine.begin() as conn:  # a bug or a hand edit: the record alone moved
        conn.execute(
            update(reward_rows).where(reward_rows.c.position == position).values(status="failed")
        )

    subject = f"{shop.merchant_id}/b1#{position}"
    assert check(shop.runtime) == [("reward_failed_transfer_posted", subject, paid_id)]


def test_a_paid_reward_row_with_no_transfer_is_named(shop: Shop) -> None:
    shop.budget(funded=1_000)
    shop.open("alice")
    shop.pay_csv(csv_of([("alice", "1000")]))
    with shop.runtime.engine.begin() as conn:  # the row names a transfer the ledger lacks
        conn.execute(update(reward_rows).values(transfer_id="tr_rw_never_posted"))

    assert check(shop.runtime) == [
        ("reward_paid_not_posted", f"{shop.merchant_id}/b1#1", "tr_rw_never_posted")
    ]
