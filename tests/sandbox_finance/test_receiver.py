"""The sandbox finance receiver over HTTP (in this process): books each voucher id once,
refuses what does not balance, hash or sign, and misbehaves when told to."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from paycore.errors import Rejected
from paycore.sandbox_finance.api import create_finance_app
from paycore.sandbox_finance.keys import prepare_secret, read_secret
from paycore.sandbox_finance.model import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    FaultMix,
    body_hash_of,
    canonical_json,
    signature_of,
)
from paycore.sandbox_finance.service import ReceiverConfig
from tests.finance.conftest_push import voucher_document


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    prepare_secret(tmp_path)
    return tmp_path


@pytest.fixture
def http(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_finance_app(ReceiverConfig(data_dir=data_dir, seed=1))) as client:
        yield client


def signed(data_dir: Path, body: bytes, *, at_s: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if at_s is None else at_s))
    return {
        KEY_ID_HEADER: "paycore",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature_of(read_secret(data_dir), timestamp=timestamp, body=body),
    }


def post(http: TestClient, data_dir: Path, document: dict[str, Any]) -> Any:
    body = canonical_json(document)
    return http.post("/vouchers", content=body, headers=signed(data_dir, body))


def test_a_voucher_is_booked_once_and_its_repeat_is_answered_duplicate_with_the_same_ref(
    http: TestClient, data_dir: Path
) -> None:
    document = voucher_document(1)
    first = post(http, data_dir, document)
    again = post(http, data_dir, document)
    assert first.status_code == again.status_code == 200
    [booked], [duplicate] = first.json()["acks"], again.json()["acks"]
    assert (booked["result"], duplicate["result"]) == ("booked", "duplicate")
    assert duplicate["receiver_ref"] == booked["receiver_ref"]
    assert http.get("/admin/receipts").json() == {document["id"]: {"booked": 1, "duplicate": 1}}


def test_the_same_id_with_another_body_is_a_conflict_and_changes_nothing(
    http: TestClient, data_dir: Path
) -> None:
    original = voucher_document(1)
    post(http, data_dir, original)
    other = voucher_document(1, amount_minor=5)
    answer = post(http, data_dir, other)
    assert answer.status_code == 409
    assert answer.json()["error"] == "voucher_conflict"
    day = date.fromisoformat(original["business_date"])
    listed = http.get(
        "/vouchers", params={"business_date": day.isoformat()}, headers=signed(data_dir, b"")
    ).json()["vouchers"]
    assert [(v["voucher_id"], v["body_hash"]) for v in listed] == [
        (original["id"], original["body_hash"])
    ]


def test_a_voucher_that_does_not_balance_or_hash_is_refused_unprocessable(
    http: TestClient, data_dir: Path
) -> None:
    unbalanced = voucher_document(1)
    unbalanced["lines"][0]["debit_minor"] += 1
    unbalanced["body_hash"] = body_hash_of(unbalanced)
    tampered = {**voucher_document(2), "summary": "changed after hashing"}
    assert post(http, data_dir, unbalanced).json()["error"] == "voucher_unbalanced"
    assert post(http, data_dir, tampered).json()["error"] == "body_hash_mismatch"
    assert post(http, data_dir, tampered).status_code == 422
    assert http.get("/admin/receipts").json() == {}


def test_requests_not_signed_with_the_secret_or_signed_long_ago_are_refused(
    http: TestClient, data_dir: Path
) -> None:
    body = canonical_json(voucher_document(1))
    forged = {**signed(data_dir, body), SIGNATURE_HEADER: "00" * 32}
    stale = signed(data_dir, body, at_s=time.time() - 3600)
    answers = [
        http.post("/vouchers", content=body),
        http.post("/vouchers", content=body, headers=forged),
        http.post("/vouchers", content=body, headers=stale),
        http.post(
            "/vouchers", content=body, headers={**signed(data_dir, body), KEY_ID_HEADER: "x"}
        ),
    ]
    assert [a.status_code for a in answers] == [401] * 4
    assert [a.json()["error"] for a in answers] == [
        "bad_signature", "bad_signature", "stale_signature", "unknown_key",
    ]  # fmt: skip


def test_down_books_nothing_fail_after_store_books_then_answers_500(
    http: TestClient, data_dir: Path
) -> None:
    http.put("/admin/faults", json={"down_rate": 1}).raise_for_status()
    assert post(http, data_dir, voucher_document(1)).status_code == 503
    listing = http.get("/vouchers", params={"business_date": "2026-01-01"},
                       headers=signed(data_dir, b""))  # fmt: skip
    assert listing.json()["error"] == "receiver_down"
    http.put("/admin/faults", json={"down_rate": 0, "fail_after_store_rate": 1})
    assert post(http, data_dir, voucher_document(2)).status_code == 500
    assert http.get("/admin/receipts").json() == {voucher_document(2)["id"]: {"booked": 1}}


def test_double_ack_processes_the_message_twice_and_books_it_once(
    http: TestClient, data_dir: Path
) -> None:
    http.put("/admin/faults", json={"double_ack_rate": 1}).raise_for_status()
    acks = post(http, data_dir, voucher_document(1)).json()["acks"]
    assert [ack["result"] for ack in acks] == ["booked", "duplicate"]
    assert len({ack["receiver_ref"] for ack in acks}) == 1


def test_a_fault_mix_with_rates_outside_0_to_1_or_unknown_settings_is_refused(
    http: TestClient,
) -> None:
    assert http.put("/admin/faults", json={"down_rate": 1.5}).status_code == 400
    assert http.put("/admin/faults", json={"melt_rate": 0.1}).status_code == 400
    assert (
        http.put("/admin/faults", json={"down_rate": 0.6, "double_ack_rate": 0.6}).status_code
        == 400
    )
    assert http.get("/admin/faults").json() == FaultMix().as_dict()
    with pytest.raises(Rejected):
        FaultMix(slow_rate=-0.1)


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_the_body_hash_ignores_key_order_and_the_hash_field_itself(body: dict[str, Any]) -> None:
    reordered = dict(reversed(list(body.items())))
    assert body_hash_of(reordered) == body_hash_of(body)
    assert body_hash_of({**body, "body_hash": "anything"}) == body_hash_of(
        {k: v for k, v in body.items() if k != "body_hash"}
    )
