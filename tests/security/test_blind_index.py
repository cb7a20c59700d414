"""The blind index on the database: written with the row, found without decrypting,
a merchant's lookups confined to its own objects, and the backfill."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from paycore.clock import ManualClock
from paycore.merchants.service import Merchants
from paycore.payments.model import OrderKind
from paycore.security import store_blind
from paycore.security.blind import BlindIndexer
from paycore.security.blind_backfill import Backfill
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher
from paycore.security.model import Scope
from paycore.security.service import ApiKeys
from tests.security.conftest_blind import (  # noqa: F401
    blind_index_fixture,
    lookup_client_fixture,
    seal_order,
)

CARD = "6217001234567890128"
CARD_SPACED = "6217 0012 3456 7890 128"
ID_NUMBER = "44030419900101123x"
PHONE = "13900001111"
ACCOUNT = "6227003811930123456"


def index_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(store_blind.blind_index))]


def test_the_same_number_written_two_ways_finds_the_same_orders(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, blind_index: BlindIndex
) -> None:
    first = seal_order(
        engine,
        field_cipher,
        clock,
        merchant_id="m_a",
        party={"card_number": CARD},
        index=blind_index,
    )
    second = seal_order(
        engine,
        field_cipher,
        clock,
        merchant_id="m_a",
        party={"card_number": CARD_SPACED, "phone": "+86 139 0000 1111"},
        index=blind_index,
    )
    seal_order(
        engine,
        field_cipher,
        clock,
        merchant_id="m_a",
        party={"card_number": "6217001234567890"},
        index=blind_index,
    )
    by_card = blind_index.find("card_number", CARD_SPACED)
    assert sorted(h.object_id for h in by_card) == sorted([first, second])
    assert [h.object_id for h in blind_index.find("phone", PHONE)] == [second]


def test_no_clear_number_is_stored_in_the_index_table(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, blind_index: BlindIndex
) -> None:
    party = {"card_number": CARD, "id_number": ID_NUMBER, "phone": PHONE}
    seal_order(engine, field_cipher, clock, merchant_id="m_a", party=party, index=blind_index)
    rows = index_rows(engine)
    assert {r["kind"] for r in rows} == {"card_number", "id_number", "phone"}
    stored = " ".join(str(value) for row in rows for value in row.values())
    for number in (CARD, ID_NUMBER, ID_NUMBER.upper(), PHONE, CARD[-10:], PHONE[-8:]):
        assert number not in stored


def test_a_merchant_key_never_gets_another_merchants_orders(
    engine: Engine,
    clock: ManualClock,
    field_cipher: FieldCipher,
    blind_index: BlindIndex,
    lookup_client: TestClient,
    api_keys: ApiKeys,
    merchants: Merchants,
) -> None:
    merchants.create(name="A", merchant_id="m_a")
    mine = seal_order(
        engine, field_cipher, clock, merchant_id="m_a", party={"phone": PHONE}, index=blind_index
    )
    theirs = seal_order(
        engine, field_cipher, clock, merchant_id="m_b", party={"phone": PHONE}, index=blind_index
    )
    _key, merchant_key = api_keys.issue(merchant_id="m_a", scopes=[Scope.PAYMENTS_READ])
    as_merchant = {"Authorization": f"Bearer {merchant_key}"}

    answer = lookup_client.post(
        "/v1/pii/lookup", json={"phone": "+86 13900001111"}, headers=as_merchant
    )
    assert answer.status_code == 200
    assert [h["object_id"] for h in answer.json()["data"]] == [mine]

    platform = lookup_client.post("/v1/pii/lookup", json={"phone": PHONE})
    assert sorted(h["object_id"] for h in platform.json()["data"]) == sorted([mine, theirs])
    assert PHONE not in platform.text


def test_a_platform_key_without_admin_may_not_look_numbers_up(
    lookup_client: TestClient, api_keys: ApiKeys
) -> None:
    _key, reader = api_keys.issue(merchant_id=None, scopes=[Scope.PAYMENTS_READ])
    answer = lookup_client.post(
        "/v1/pii/lookup", json={"card_number": CARD}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert answer.status_code == 403


def test_a_lookup_needs_exactly_one_well_formed_number(lookup_client: TestClient) -> None:
    two = lookup_client.post("/v1/pii/lookup", json={"card_number": CARD, "phone": PHONE})
    bad = lookup_client.post("/v1/pii/lookup", json={"phone": "12345"})
    assert (two.json()["code"], bad.json()["code"]) == ("invalid_lookup_value",) * 2


def test_the_backfill_indexes_old_rows_resumes_after_a_stop_and_adds_nothing_when_run_again(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, blind_index: BlindIndex
) -> None:
    written = [
        seal_order(
            engine,
            field_cipher,
            clock,
            merchant_id="m_a",
            party={"card_number": CARD, "phone": PHONE},
        )
        for _ in range(5)
    ]
    seal_order(
        engine,
        field_cipher,
        clock,
        merchant_id="m_b",
        party={"account_number": ACCOUNT, "name": "x"},
        kind=OrderKind.PAYOUT,
    )
    assert blind_index.find("card_number", CARD) == []
    job = Backfill(blind_index, field_cipher)

    stopped = job.run(page_size=2, pages_max=2)
    assert not stopped.finished
    assert stopped.sources["payment_orders"].rows == 4
    resumed = job.run(page_size=2)
    assert resumed.finished
    assert resumed.sources["payment_orders"].rows == 2  # only what the stop left
    after_first = index_rows(engine)
    assert len(after_first) == 5 * 2 + 1

    assert sorted(h.object_id for h in blind_index.find("card_number", CARD_SPACED)) == sorted(
        written
    )
    payout = blind_index.find("account_number", ACCOUNT)
    assert [(h.object_type, h.merchant_id) for h in payout] == [("payout", "m_b")]

    with engine.begin() as conn:
        conn.execute(store_blind.backfill_checkpoints.delete())
    again = job.run(page_size=3)
    assert again.finished
    assert len(index_rows(engine)) == len(after_first)


def test_the_backfill_skips_a_row_that_no_longer_decrypts(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, blind_index: BlindIndex
) -> None:
    other_cipher = FieldCipher({"gone": b"\x07" * 32}, "gone")
    seal_order(engine, other_cipher, clock, merchant_id="m_a", party={"card_number": CARD})
    kept = seal_order(engine, field_cipher, clock, merchant_id="m_a", party={"card_number": CARD})
    result = Backfill(blind_index, field_cipher).run()
    assert result.sources["payment_orders"].unreadable == 1
    assert [h.object_id for h in blind_index.find("card_number", CARD)] == [kept]


def test_an_erased_objects_entries_are_forgotten_and_others_stay(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, blind_index: BlindIndex
) -> None:
    erased = seal_order(
        engine, field_cipher, clock, merchant_id="m_a", party={"phone": PHONE}, index=blind_index
    )
    kept = seal_order(
        engine, field_cipher, clock, merchant_id="m_a", party={"phone": PHONE}, index=blind_index
    )
    with engine.begin() as conn:
        assert blind_index.forget(conn, object_type="payin", object_id=erased) == 1
    assert [h.object_id for h in blind_index.find("phone", PHONE)] == [kept]


def test_after_a_key_rotation_old_entries_are_found_and_the_backfill_adds_the_new_keys(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, blind_index: BlindIndex
) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    before = BlindIndex(engine, BlindIndexer({"t1": old_key}, "t1"), clock)
    order = seal_order(
        engine, field_cipher, clock, merchant_id="m_a", party={"phone": PHONE}, index=before
    )
    rotated = BlindIndex(engine, BlindIndexer({"t1": old_key, "t2": new_key}, "t2"), clock)
    assert [h.object_id for h in rotated.find("phone", PHONE)] == [order]

    Backfill(rotated, field_cipher).run()
    only_new = BlindIndex(engine, BlindIndexer({"t2": new_key}, "t2"), clock)
    assert [h.object_id for h in only_new.find("phone", PHONE)] == [order]
    assert sorted(str(r["token"])[:3] for r in index_rows(engine)) == ["t1:", "t2:"]
