"""Split legs and collection attempts against the amounts their transfers moved. The
ledger refuses a flow's id for another amount, so only the record can drift from it (a bug
or a hand edit); the drift is named with its split or attempt and a stable code."""

from __future__ import annotations

from sqlalchemy import select, update

from paycore.collection.store import attempts, plans
from paycore.consistency.service import FlowCheck
from paycore.runtime import Runtime
from paycore.split.model import Share, SplitMode, split_id_for
from paycore.split.store import splits
from tests.collection.conftest import agency, alpha, runtime, terms, top_up
from tests.consistency.test_collection_and_rewards_against_the_ledger import DUE
from tests.payments.http_conftest import Tenant
from tests.split.conftest import Shop, shop

__all__ = ["agency", "alpha", "runtime", "shop"]  # the slices' fixtures


def check(runtime: Runtime) -> list[tuple[str, str, str]]:
    found = FlowCheck(runtime.engine, runtime.clock).run().disagreements
    return [(d.code, d.subject_id, d.transfer_id) for d in found]


def test_a_split_leg_whose_record_drifted_from_its_transfers_amount_is_named(
    shop: Shop,
) -> None:
    shop.open("alice", "bob")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=3600, product="d")
    frozen_id = split_id_for(shop.pay(10_000, product="d").id)
    shop.rule(Share("bob", bps=2_000))
    posted_id = split_id_for(shop.pay(10_000).id)
    assert check(shop.runtime) == []
    expected = []
    with shop.runtime.engine.begin() as conn:
        for split_id, field in ((frozen_id, "frozen"), (posted_id, "received")):
            legs = conn.execute(select(splits.c.legs).where(splits.c.id == split_id)).scalar_one()
            legs[0] = {**legs[0], field: legs[0][field] + 1}
            conn.execute(update(splits).where(splits.c.id == split_id).values(legs=legs))
            expected.append(("split_leg_amount_differs", split_id, legs[0]["transfer_id"]))

    assert sorted(check(shop.runtime)) == sorted(expected)


def test_a_collection_whose_plan_drifted_from_its_transfers_amount_is_named(
    runtime: Runtime, agency: Tenant
) -> None:
    plan = runtime.collection.create(agency.id, terms())
    top_up(runtime, agency.id, "tenant1", 700_000)
    runtime.collection.run_due(DUE)
    with runtime.engine.connect() as conn:
        [(attempt_id, status)] = conn.execute(select(attempts.c.id, attempts.c.status)).all()
    assert status == "succeeded" and check(runtime) == []
    with runtime.engine.begin() as conn:
        conn.execute(update(plans).where(plans.c.id == plan.id).values(amount=plans.c.amount + 1))

    assert check(runtime) == [("collection_amount_differs", attempt_id, f"tr_col_{attempt_id}_net")]
