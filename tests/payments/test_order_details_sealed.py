"""An order's description and metadata are stored only sealed (one token per order, bound
to the order), and every reader shows them as before; rows written in clear before
migration 0029 still read, and the backfill's sealing reads the same."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update

from paycore.bills.query_rows import order_lines, order_row
from paycore.payments import details
from paycore.payments.store import orders
from paycore.payments.views import order_view
from paycore.security.crypto import KeyStoreUnbound, TamperedCiphertext
from tests.payments.conftest import CIPHER, World
from tests.payments.fakes import succeeded
from tests.payments.test_payin_flows import payin

METADATA = {"cart": "c-77", "buyer": "Zhang San", "lines": [1, 2]}


def _stored(engine: Engine, order_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(orders).where(orders.c.id == order_id)).one()


def _created(world: World, **extra: object) -> str:
    world.alpha.then(succeeded())
    created = world.payments.create_payin(payin(**extra), idempotency_key=f"k{len(extra)}")
    return str(created.body["id"])


def test_a_payins_description_and_metadata_are_stored_only_sealed_and_read_as_given(
    world: World,
) -> None:
    world.alpha.then(succeeded())
    created = world.payments.create_payin(
        payin(description="rent for Zhang San", metadata=METADATA), idempotency_key="k1"
    )
    order_id = str(created.body["id"])

    row = _stored(world.engine, order_id)
    order = world.payments.get(merchant_id="m1", order_id=order_id)

    assert {"description", "metadata"}.isdisjoint(orders.c.keys())  # dropped by 0032
    assert row.details_enc and "Zhang" not in row.details_enc
    assert (order.description, dict(order.metadata)) == ("rent for Zhang San", METADATA)
    assert created.body["description"] == "rent for Zhang San"
    assert created.body["metadata"] == METADATA
    assert order_view(order) == {**created.body, "updated_at": order_view(order)["updated_at"]}


def test_an_order_without_description_or_metadata_stores_no_token(world: World) -> None:
    order_id = _created(world, description="")

    row = _stored(world.engine, order_id)
    order = world.payments.get(merchant_id="m1", order_id=order_id)

    assert row.details_enc is None
    assert (order.description, dict(order.metadata)) == ("", {})


def test_a_details_token_copied_to_another_order_does_not_open(world: World) -> None:
    first = _created(world, description="first", metadata={"n": 1})
    world.alpha.then(succeeded())
    second = str(
        world.payments.create_payin(payin(description="second"), idempotency_key="k9").body["id"]
    )
    with world.engine.begin() as conn:
        token = _stored(world.engine, first).details_enc
        conn.execute(update(orders).where(orders.c.id == second).values(details_enc=token))

    with pytest.raises(TamperedCiphertext):
        world.payments.get(merchant_id="m1", order_id=second)


def test_a_sealed_order_read_through_an_engine_without_a_cipher_is_a_wiring_defect(
    world: World,
) -> None:
    order_id = _created(world, description="rent")
    token = _stored(world.engine, order_id).details_enc

    with pytest.raises(KeyStoreUnbound):
        list(order_lines([_line(order_id, token)]))


def _line(order_id: str, sealed: str | None) -> tuple[Any, ...]:
    at = datetime(2026, 11, 3, 4, 5, 6)
    return (order_id, "payin", at, None, "rent", "alpha", "succeeded", "CNY", 1, 0, 0, None,
            None, None, sealed)  # fmt: skip


def test_bills_show_the_description_of_sealed_rows_and_none_for_rows_without(
    world: World,
) -> None:
    order_id = _created(world, description="rent for Zhang San", metadata={"a": 1})
    token = _stored(world.engine, order_id).details_enc
    at = datetime(2026, 11, 3, 4, 5, 6, tzinfo=UTC)
    page_row = (order_id, "payin", None, "rent", "alpha", "succeeded", 1, 0, 0, "CNY", None,
                {}, at, None, token)  # fmt: skip

    sealed, empty = order_lines([_line(order_id, token), _line(order_id, None)], CIPHER)

    assert sealed[-1] == "rent for Zhang San" and empty[-1] == ""
    assert order_row(page_row, CIPHER)["description"] == "rent for Zhang San"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    description=st.text(max_size=256),
    metadata=st.dictionaries(st.text(max_size=12), json_values, max_size=4),
)
def test_sealed_details_open_to_exactly_what_was_sealed(
    description: str, metadata: dict[str, Any]
) -> None:
    token = details.seal_order_details(CIPHER, "pay_1", description, metadata)

    if not description and not metadata:
        assert token is None
        return
    assert token is not None
    assert details.open_order_details(CIPHER, "pay_1", token) == (description, metadata)
    with pytest.raises(TamperedCiphertext):
        details.open_order_details(CIPHER, "pay_2", token)
