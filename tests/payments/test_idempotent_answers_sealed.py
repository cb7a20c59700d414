"""The answer stored under an Idempotency-Key is a copy of the order's view (C2): kept sealed
in `idempotency_keys.response_enc`, bound to its key row, and replayed as first answered."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from paycore.clock import ManualClock
from paycore.payments import store_idempotency
from paycore.payments.store_idempotency import idempotency_keys
from paycore.runtime import Runtime
from paycore.security.blind import BlindIndexer
from paycore.security.columns_backfill import EncryptBackfill
from paycore.security.crypto import FieldCipher
from paycore.security.keys import TamperedCiphertext
from tests.payments.conftest import World
from tests.payments.http_conftest import Tenant, create_payin, new_tenant, payout_body
from tests.payments.test_payin_flows import CARD, payin
from tests.security.legacy_db import (
    clear_values,
    insert_clear_answer,
    legacy_engine,  # noqa: F401
    legacy_url,  # noqa: F401
)

K = idempotency_keys.c


def stored(engine: Engine, merchant_id: str, key: str) -> dict[str, Any]:
    """The key row as the database holds it."""
    with engine.connect() as conn:
        row = conn.execute(
            select(K.response_enc).where(K.merchant_id == merchant_id, K.key == key)
        ).one()
    return dict(row._mapping)


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Shop")


def test_a_stored_answer_is_sealed(world: World) -> None:
    world.payments.create_payin(payin(), idempotency_key="k1")

    row = stored(world.engine, "m1", "k1")

    assert "response" not in K  # no clear column since 0032
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
    assert stored(runtime.engine, shop.id, "po-1")["response_enc"] is not None


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


def test_a_key_answered_in_clear_before_0030_replays_its_answer_once_backfilled(
    legacy_engine: Engine,  # noqa: F811
    clock: ManualClock,
    field_cipher: FieldCipher,
) -> None:
    answer = {"id": "pay_old", "status": "processing", "zz": 1, "a": [1, 2]}
    insert_clear_answer(
        legacy_engine, merchant_id="m1", key="old", response=json.dumps(answer), at=clock.now()
    )

    moved = EncryptBackfill(
        legacy_engine, field_cipher, BlindIndexer({"k1": os.urandom(32)}, "k1")
    ).run()
    with legacy_engine.begin() as conn:
        prior = store_idempotency.claim_idempotency_key(  # the retry dispatch.py answers
            conn, merchant_id="m1", key="old", request_hash="h", object_id="pay_x",
            now=clock.now(),
        )  # fmt: skip

    assert moved["idempotency_keys.response"] == 1
    assert prior is not None and prior["status_code"] == 201
    assert store_idempotency.stored_response(field_cipher, prior) == answer
    assert clear_values(legacy_engine, "idempotency_keys", "response") == []  # SQL NULL
