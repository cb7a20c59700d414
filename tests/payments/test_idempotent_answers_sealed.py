"""The answer stored under an Idempotency-Key is a copy of the order's view (C2): kept sealed
in `idempotency_keys.response_enc`, bound to its key row, and replayed as first answered."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from paycore.payments.store_idempotency import idempotency_keys, seal_response_row
from paycore.runtime import Runtime
from paycore.security import store_columns
from paycore.security.keys import TamperedCiphertext
from tests.payments.conftest import World
from tests.payments.http_conftest import Tenant, create_payin, new_tenant, payout_body
from tests.payments.test_payin_flows import CARD, payin

K = idempotency_keys.c


def stored(engine: Engine, merchant_id: str, key: str) -> dict[str, Any]:
    """The key row as the database holds it; `clear_is_null` asks SQL, not the JSON type
    (which reads the JSON text 'null' as None too)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                K.response_enc,
                K.response,
                K.response.is_(None).label("clear_is_null"),
            ).where(K.merchant_id == merchant_id, K.key == key)
        ).one()
    return dict(row._mapping)


def to_clear(engine: Engine, merchant_id: str, key: str, response: dict[str, Any]) -> None:
    """Make the row as a release before migration 0030 left it: the answer in clear."""
    with engine.begin() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(K.merchant_id == merchant_id, K.key == key)
            .values(response=response, response_enc=None)
        )


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Shop")


def test_a_stored_answer_is_sealed_and_its_clear_column_is_sql_null(world: World) -> None:
    world.payments.create_payin(payin(), idempotency_key="k1")

    row = stored(world.engine, "m1", "k1")

    assert row["clear_is_null"]
    assert row["response_enc"] is not None
    for clear in ("November rent", CARD[-4:], "pay_"):
        assert clear not in row["response_enc"]


def test_a_replay_over_http_answers_the_first_answers_bytes(
    client: TestClient, shop: Tenant
) -> None:
    first = create_payin(client, shop, "order-7")
    again = create_payin(client, shop, "order-7")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content  # keys in the same order, on both databases


def test_a_refusal_replays_as_the_same_problem_from_its_sealed_copy(
    client: TestClient, shop: Tenant, runtime: Runtime
) -> None:
    body = payout_body(amount=1_000)  # the new shop's wallet is empty
    first = client.post("/v1/payouts", json=body, headers=shop.headers("po-1"))
    again = client.post("/v1/payouts", json=body, headers=shop.headers("po-1"))

    assert first.status_code == again.status_code == 422
    assert again.json()["code"] == first.json()["code"] == "insufficient_balance"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored(runtime.engine, shop.id, "po-1")["clear_is_null"]


def test_a_key_answered_before_0030_still_replays_its_clear_answer(world: World) -> None:
    first = world.payments.create_payin(payin(), idempotency_key="old")
    to_clear(world.engine, "m1", "old", dict(first.body))

    again = world.payments.create_payin(payin(), idempotency_key="old")

    assert again.replayed and again.body == first.body


def test_a_sealed_answer_copied_to_another_key_does_not_open(world: World) -> None:
    world.payments.create_payin(payin(), idempotency_key="a")
    world.payments.create_payin(payin(amount=20_000), idempotency_key="b")
    with world.engine.begin() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(K.merchant_id == "m1", K.key == "b")
            .values(response_enc=stored(world.engine, "m1", "a")["response_enc"])
        )

    with pytest.raises(TamperedCiphertext):
        world.payments.create_payin(payin(amount=20_000), idempotency_key="b")


def test_the_backfill_seals_an_old_clear_answer_which_then_replays_the_same(
    world: World,
) -> None:
    first = world.payments.create_payin(payin(), idempotency_key="old")
    to_clear(world.engine, "m1", "old", dict(first.body))

    with world.engine.begin() as conn:
        page = store_columns.clear_page(
            conn,
            idempotency_keys,
            keys=("merchant_id", "key"),
            clear="response",
            also=(),
            after=None,
            limit=10,
        )
        values = [
            {
                "k_merchant_id": r["merchant_id"],
                "k_key": r["key"],
                **{f"v_{n}": v for n, v in seal_response_row(world.payments.ctx.cipher, r).items()},
            }
            for r in page
        ]
        store_columns.seal(
            conn, idempotency_keys, keys=("merchant_id", "key"), clear="response", values=values
        )
    again = world.payments.create_payin(payin(), idempotency_key="old")

    assert [r["key"] for r in page] == ["old"]
    assert stored(world.engine, "m1", "old")["response_enc"] is not None
    assert again.replayed and again.body == first.body


def test_the_backfill_leaves_the_clear_json_column_sql_null(world: World) -> None:
    first = world.payments.create_payin(payin(), idempotency_key="old")
    to_clear(world.engine, "m1", "old", dict(first.body))
    with world.engine.begin() as conn:
        [row] = store_columns.clear_page(
            conn, idempotency_keys, keys=("merchant_id", "key"), clear="response", also=(),
            after=None, limit=10,
        )  # fmt: skip
        sealed = seal_response_row(world.payments.ctx.cipher, row)["response_enc"]
        store_columns.seal(
            conn, idempotency_keys, keys=("merchant_id", "key"), clear="response",
            values=[{"k_merchant_id": "m1", "k_key": "old", "v_response_enc": sealed}],
        )  # fmt: skip

    with world.engine.connect() as conn:
        left = store_columns.count_clear(conn, idempotency_keys, clear="response")
    assert left == 0
