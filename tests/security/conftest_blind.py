"""Fixtures of the blind-index tests: an index on the test database, orders sealed as
payments seals them, and the HTTP lookup mounted on the test app."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete

from paycore import ids
from paycore.clock import ManualClock
from paycore.payments import store as payments_store
from paycore.payments.model import Order, OrderKind, OrderStatus
from paycore.platform.db import WRITER
from paycore.runtime import Runtime
from paycore.security import store_blind
from paycore.security.api_lookup import router as lookup_router
from paycore.security.blind import BlindIndexer
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher
from paycore.web.app import create_app


@pytest.fixture(name="blind_index")
def blind_index_fixture(engine: Engine, clock: ManualClock) -> BlindIndex:
    # Until tables.py registers store_blind, the PostgreSQL emptier does not know these.
    with engine.begin() as conn:
        conn.execute(delete(store_blind.blind_index))
        conn.execute(delete(store_blind.backfill_checkpoints))
    return BlindIndex(engine, BlindIndexer({"t1": os.urandom(32)}, "t1"), clock)


def seal_order(
    engine: Engine,
    cipher: FieldCipher,
    clock: ManualClock,
    *,
    merchant_id: str,
    party: Mapping[str, str],
    kind: OrderKind = OrderKind.PAYIN,
    index: BlindIndex | None = None,
) -> str:
    """An order stored as payments stores it (party sealed per field); indexed in the
    same transaction when `index` is given, as the write path does."""
    now = clock.now()
    order = Order(
        id=ids.new_id("pay" if kind is OrderKind.PAYIN else "po"),
        kind=kind,
        merchant_id=merchant_id,
        product="card",
        amount=100,
        currency="CNY",
        status=OrderStatus.CREATED,
        created_at=now,
        updated_at=now,
    )
    order.party_enc = {
        name: cipher.encrypt(value, context=f"{order.id}:{name}") for name, value in party.items()
    }
    with engine.connect().execution_options(**WRITER) as conn, conn.begin():
        payments_store.insert_order(conn, order)
        if index is not None:
            index.write(
                conn,
                object_type=kind.value,
                object_id=order.id,
                merchant_id=merchant_id,
                numbers=party,
            )
    return order.id


@pytest.fixture(name="lookup_client")
def lookup_client_fixture(
    runtime: Runtime, blind_index: BlindIndex, admin_key: str
) -> Iterator[TestClient]:
    app = create_app(runtime=runtime)
    if not any(getattr(route, "path", "") == "/v1/pii/lookup" for route in app.routes):
        app.include_router(lookup_router)  # until web/app.py mounts it
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        app.state.blind_index = blind_index  # after start-up, which sets the runtime's
        yield client
