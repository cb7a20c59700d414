"""The bank over HTTP: who it lets in, what it records, its admin switches, its restarts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from paycore.channels import signing
from paycore.sandbox_bank.config import BankConfig
from paycore.sandbox_bank.server import run_bank
from tests.sandbox_bank.harness import BankUnderTest, bank_under_test, payin_body


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankUnderTest]:
    with bank_under_test(tmp_path_factory.mktemp("bank")) as bank:
        yield bank


@pytest.fixture(autouse=True)
def _fast_faults(bank: BankUnderTest) -> None:
    bank.set_faults()


def _error(response: httpx.Response) -> str:
    code: str = response.json()["error"]
    return code


def test_a_signed_pay_in_is_accepted_and_the_answer_is_signed_by_the_bank(
    bank: BankUnderTest,
) -> None:
    body = payin_body(bank.receiver.url)
    response = bank.signed_request("POST", "/v1/payins", body, nonce="nonce-answer")

    assert response.status_code == 200
    assert response.json()["status"] == "processing"
    signed = signing.verify(
        bank.bank_public_key(), response.headers, verb="RESPONSE 200", path="/v1/payins",
        body=response.content,
    )  # fmt: skip
    assert (signed.key_id, signed.nonce) == ("sandbox-bank", "nonce-answer")


def test_an_unsigned_request_is_refused(bank: BankUnderTest) -> None:
    response = bank.admin.post("/v1/payins", content=payin_body(bank.receiver.url))

    assert (response.status_code, _error(response)) == (401, "unknown_merchant")


def test_a_request_whose_body_was_changed_after_signing_is_refused(bank: BankUnderTest) -> None:
    body = payin_body(bank.receiver.url, amount_minor=100)
    key = signing.load_private_key(bank.data_dir / "merchant_private.pem")
    headers = signing.sign(key, key_id="paycore", verb="POST", path="/v1/payins", body=body)
    tampered = body.replace(b'"amount_minor": 100', b'"amount_minor": 1')

    response = bank.admin.post("/v1/payins", content=tampered, headers=headers)

    assert (response.status_code, _error(response)) == (401, "bad_signature")
    assert json.loads(body)["reference"] not in {t["reference"] for t in bank.transactions()}


def test_a_request_signed_with_another_key_is_refused(bank: BankUnderTest) -> None:
    stranger = signing.generate_private_key()
    body = payin_body(bank.receiver.url)
    headers = signing.sign(stranger, key_id="paycore", verb="POST", path="/v1/payins", body=body)

    response = bank.admin.post("/v1/payins", content=body, headers=headers)

    assert (response.status_code, _error(response)) == (401, "bad_signature")


def test_a_request_with_a_stale_timestamp_is_refused(bank: BankUnderTest) -> None:
    stale = int(time.time()) - signing.REPLAY_WINDOW_S - 5
    response = bank.signed_request(
        "POST", "/v1/payins", payin_body(bank.receiver.url), timestamp=stale
    )

    assert (response.status_code, _error(response)) == (401, "stale_signature")


def test_a_replayed_request_is_refused(bank: BankUnderTest) -> None:
    body = payin_body(bank.receiver.url)
    key = signing.load_private_key(bank.data_dir / "merchant_private.pem")
    headers = signing.sign(
        key, key_id="paycore", verb="POST", path="/v1/payins", body=body, nonce="once"
    )

    first = bank.admin.post("/v1/payins", content=body, headers=headers)
    again = bank.admin.post("/v1/payins", content=body, headers=headers)

    assert first.status_code == 200
    assert (again.status_code, _error(again)) == (401, "replayed_request")


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1]", b'{"reference": "p1"}', b'{"reference": "p1", "amount_minor": -5}'],
)
def test_a_malformed_request_is_a_signed_invalid_request_and_nothing_is_recorded(
    bank: BankUnderTest, body: bytes
) -> None:
    before = len(bank.transactions())
    response = bank.signed_request("POST", "/v1/payins", body)

    assert (response.status_code, _error(response)) == (400, "invalid_request")
    assert signing.header(response.headers, signing.SIGNATURE_HEADER)
    assert len(bank.transactions()) == before


def test_a_repeated_reference_returns_the_same_transaction(bank: BankUnderTest) -> None:
    body = payin_body(bank.receiver.url, reference="pay_repeat_1")

    first = bank.signed_request("POST", "/v1/payins", body).json()
    second = bank.signed_request("POST", "/v1/payins", body).json()

    assert first["bank_txn_no"] == second["bank_txn_no"]
    assert [t["reference"] for t in bank.transactions()].count("pay_repeat_1") == 1


def test_a_repeated_reference_with_another_amount_is_a_conflict(bank: BankUnderTest) -> None:
    bank.signed_request("POST", "/v1/payins", payin_body(bank.receiver.url, "pay_c1", 100))

    response = bank.signed_request(
        "POST", "/v1/payins", payin_body(bank.receiver.url, "pay_c1", 200)
    )

    assert (response.status_code, _error(response)) == (409, "reference_conflict")


def test_a_503_records_nothing_and_a_500_records_the_transaction(bank: BankUnderTest) -> None:
    bank.set_faults(unavailable_rate=1.0)
    unavailable = bank.signed_request("POST", "/v1/payins", payin_body(bank.receiver.url, "p503"))
    bank.set_faults(error_after_rate=1.0)
    failed = bank.signed_request("POST", "/v1/payins", payin_body(bank.receiver.url, "p500"))

    references = {t["reference"] for t in bank.transactions()}
    assert (unavailable.status_code, failed.status_code) == (503, 500)
    assert "p503" not in references
    assert "p500" in references


def test_the_fault_mix_can_be_read_and_changed_at_runtime(bank: BankUnderTest) -> None:
    changed = bank.admin.put("/admin/faults", json={"decline_rate": 0.25})
    refused = bank.admin.put("/admin/faults", json={"decline_rate": 2})

    assert changed.json()["decline_rate"] == 0.25
    assert bank.admin.get("/admin/faults").json()["decline_rate"] == 0.25
    assert (refused.status_code, _error(refused)) == (400, "invalid_request")


def test_the_hang_switch_stalls_every_merchant_call_until_it_is_turned_off(
    bank: BankUnderTest,
) -> None:
    bank.set_faults(hang=True, hang_min_s=0.6, hang_max_s=0.6)
    started = time.monotonic()
    health = bank.admin.get("/health")
    hung_s = time.monotonic() - started
    started = time.monotonic()
    admin = bank.admin.get("/admin/faults")
    admin_s = time.monotonic() - started

    bank.set_faults(hang=False)
    started = time.monotonic()
    bank.admin.get("/health")
    recovered_s = time.monotonic() - started

    assert health.status_code == admin.status_code == 200
    assert hung_s >= 0.6
    assert admin_s < 0.5 and recovered_s < 0.5


def test_a_request_still_runs_after_a_hang_even_if_its_caller_gave_up(
    bank: BankUnderTest,
) -> None:
    bank.set_faults(hang=True, hang_min_s=0.3, hang_max_s=0.3)
    with pytest.raises(httpx.ReadTimeout):
        _post_with_timeout(bank, payin_body(bank.receiver.url, "pay_hung"))
    bank.set_faults(hang=False)

    assert bank.transaction("pay_hung", wait_s=5)["amount_minor"] == 100


def _post_with_timeout(bank: BankUnderTest, body: bytes) -> httpx.Response:
    key = signing.load_private_key(bank.data_dir / "merchant_private.pem")
    headers = signing.sign(key, key_id="paycore", verb="POST", path="/v1/payins", body=body)
    with httpx.Client(base_url=bank.base_url, timeout=0.1) as client:
        return client.post("/v1/payins", content=body, headers=headers)


def test_advancing_the_clock_finishes_what_falls_due(bank: BankUnderTest) -> None:
    bank.set_faults(complete_min_s=3600.0, complete_max_s=3600.0)
    bank.signed_request("POST", "/v1/payins", payin_body(bank.receiver.url, "pay_later"))
    assert bank.transaction("pay_later")["status"] == "processing"

    bank.admin.post("/admin/advance", json={"seconds": 3601})
    bank.receiver.wait_for(lambda got: any(b"pay_later" in c.body for c in got))

    assert bank.transaction("pay_later")["status"] == "succeeded"
    assert bank.admin.post("/admin/advance", json={"seconds": -1}).status_code == 400


def test_a_restarted_bank_keeps_its_records_and_finishes_what_was_pending(
    tmp_path: Path,
) -> None:
    with bank_under_test(tmp_path) as first:
        first.set_faults(complete_min_s=1.0, complete_max_s=1.0)
        first.signed_request("POST", "/v1/payins", payin_body(first.receiver.url, "pay_restart"))
    with run_bank(BankConfig(data_dir=tmp_path)) as base_url, httpx.Client() as http:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            (txn,) = http.get(f"{base_url}/admin/transactions").json()
            if txn["status"] != "processing":
                break
            time.sleep(0.05)

    assert (txn["reference"], txn["status"]) == ("pay_restart", "succeeded")


def test_a_credit_transfer_received_shows_on_the_statement_of_its_day(
    bank: BankUnderTest,
) -> None:
    body = {
        "account": "9558800000000077",
        "amount_minor": 88_800,
        "currency": "CNY",
        "payer": {"account_number": "6222021234567890128", "name": "王五"},
    }
    created = bank.admin.post("/admin/credits", json=body)
    booked = created.json()
    statement_day = (
        datetime.fromisoformat(booked["booked_at"]).astimezone(ZoneInfo("Asia/Shanghai")).date()
    )

    text = bank.signed_request("GET", f"/v1/statements/{statement_day}", b"").text
    rows = [line.split(",") for line in text.splitlines()]

    assert created.status_code == 201
    [row] = [r for r in rows if r[1] == booked["bank_txn_no"]]
    assert (row[2], row[3], row[4], row[-3:]) == (
        "", "CREDIT", "888.00", ["9558800000000077", "6222021234567890128", "王五"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"account": "12"}, "invalid_request"),
        ({"amount_minor": 0}, "invalid_request"),
        ({"payer": {"account_number": "6222021234567890128", "name": ""}}, "invalid_request"),
        ({"merchant_id": "someone-else"}, "unknown_merchant"),
    ],
)
def test_a_bad_credit_transfer_is_refused_and_nothing_is_booked(
    bank: BankUnderTest, change: dict[str, object], code: str
) -> None:
    body: dict[str, object] = {
        "account": "9558800000000078",
        "amount_minor": 100,
        "currency": "CNY",
        "payer": {"account_number": "6222021234567890128", "name": "王五"},
    } | change

    refused = bank.admin.post("/admin/credits", json=body)

    assert (refused.status_code, _error(refused)) == (400, code)
