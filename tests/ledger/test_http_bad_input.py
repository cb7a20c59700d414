"""Bad input over HTTP: every refusal is problem+json with its stable code, and writes nothing.

Each bad transfer travels in a batch beside a valid one: the whole request is
refused, so the valid transfer must not exist afterwards either.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore import limits
from paycore.ledger.service import Ledger

PROBLEM_JSON = "application/problem+json"
VALID_ID = "tr_valid"
BAD_ID = "tr_bad"
HUGE_METADATA = {"note": "x" * limits.METADATA_BYTES_MAX}


def transfer(transfer_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": transfer_id, "debit_account_id": "acct_a", "credit_account_id": "acct_b",
        "amount": 100, "currency": "CNY",
    }  # fmt: skip
    body.update(fields)
    return body


def metadata_of_size(size: int) -> dict[str, str]:
    """A metadata object whose compact JSON is exactly `size` bytes."""
    overhead = len(json.dumps({"k": ""}, separators=(",", ":")))
    return {"k": "x" * (size - overhead)}


@pytest.fixture
def seeded(client: TestClient) -> dict[str, Any]:
    """Two accounts with money already moved; returns what the API shows before the test."""
    for account_id in ("acct_a", "acct_b"):
        assert client.post("/v1/accounts", json={"id": account_id, "currency": "CNY"}).is_success
    seed = {"transfers": [transfer("tr_seed", amount=1_000)]}
    assert client.post("/v1/transfers", json=seed).json()["results"][0]["result"] == "created"
    return snapshot(client)


def snapshot(client: TestClient) -> dict[str, Any]:
    return {
        account_id: (
            client.get(f"/v1/accounts/{account_id}").json(),
            client.get(f"/v1/accounts/{account_id}/entries").json(),
        )
        for account_id in ("acct_a", "acct_b")
    }


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    assert body["title"]
    return body


def assert_nothing_written(
    client: TestClient, ledger: Ledger, before: dict[str, Any], *transfer_ids: str
) -> None:
    assert snapshot(client) == before
    for transfer_id in transfer_ids:
        assert client.get(f"/v1/transfers/{transfer_id}").status_code == 404
    report = ledger.check()
    assert report.ok, report.problems
    assert report.accounts_checked == len(before)


# -- one bad transfer beside a valid one ---------------------------------------------------

BAD_TRANSFERS = [
    pytest.param({"amount": 0}, 422, "amount_must_be_positive", id="zero_amount"),
    pytest.param({"amount": -1}, 422, "amount_must_be_positive", id="negative_amount"),
    pytest.param({"amount": 1.5}, 422, "wrong_type", id="fractional_float_amount"),
    pytest.param({"amount": "100"}, 422, "wrong_type", id="string_amount"),
    pytest.param({"amount": True}, 422, "wrong_type", id="boolean_amount"),
    pytest.param({"amount": 2**63}, 422, "amount_must_not_exceed_max", id="amount_2_pow_63"),
    pytest.param({"amount": 2**64}, 422, "amount_must_not_exceed_max", id="amount_2_pow_64"),
    pytest.param({"currency": "XYZ"}, 422, "unknown_currency", id="unknown_currency"),
    pytest.param({"currency": "cny"}, 422, "unknown_currency", id="lowercase_currency"),
    pytest.param({"colour": "red"}, 422, "unknown_field", id="unknown_field_in_transfer"),
    pytest.param({"flags": ["pending", "urgent"]}, 422, "unknown_flag", id="unknown_flag"),
    pytest.param({"flags": ["PENDING"]}, 422, "unknown_flag", id="uppercase_flag"),
    pytest.param({"metadata": HUGE_METADATA}, 422, "metadata_too_large", id="huge_metadata"),
    pytest.param(
        {"code": limits.CODE_MAX + 1}, 422, "code_must_not_exceed_max", id="code_over_max"
    ),
]


@pytest.mark.parametrize(("bad_fields", "status", "code"), BAD_TRANSFERS)
@pytest.mark.parametrize("bad_first", [False, True], ids=["bad_last", "bad_first"])
def test_a_bad_transfer_refuses_the_whole_batch_with_its_code_and_writes_nothing(
    client: TestClient,
    ledger: Ledger,
    seeded: dict[str, Any],
    bad_fields: dict[str, Any],
    status: int,
    code: str,
    bad_first: bool,
) -> None:
    batch = [transfer(VALID_ID), transfer(BAD_ID, **bad_fields)]
    if bad_first:
        batch.reverse()

    response = client.post("/v1/transfers", json={"transfers": batch})

    body = assert_problem(response, status, code)
    bad_index = 0 if bad_first else 1
    assert body["errors"][0]["loc"][:3] == ["body", "transfers", bad_index]
    assert_nothing_written(client, ledger, seeded, VALID_ID, BAD_ID)


# -- bad batches ---------------------------------------------------------------------------


def raw(body: Any) -> bytes:
    return json.dumps(body).encode()


BAD_BATCHES = [
    pytest.param(
        raw({"transfers": [transfer(VALID_ID)], "dry_run": True}), 422, "unknown_field",
        id="unknown_top_level_field",
    ),
    pytest.param(
        raw({"transfers": [transfer(VALID_ID)] + [
            transfer(f"tr_{i}") for i in range(limits.TRANSFER_BATCH_MAX)
        ]}),
        413, "batch_too_large", id="8191_transfers",
    ),
    pytest.param(raw({"transfers": []}), 422, "batch_empty", id="empty_transfers"),
    pytest.param(raw({}), 422, "missing_field", id="no_transfers_key"),
    pytest.param(
        raw({"transfers": transfer(VALID_ID)}), 422, "wrong_type", id="transfers_not_a_list"
    ),
    pytest.param(raw([transfer(VALID_ID)]), 422, "wrong_type", id="body_is_a_list"),
    pytest.param(
        raw({"transfers": [transfer(VALID_ID)]})[:-3], 400, "malformed_json", id="truncated_json"
    ),
    pytest.param(
        b'{"transfers": [' + raw(transfer(VALID_ID)) + b",]}", 400, "malformed_json",
        id="trailing_comma",
    ),
    pytest.param(
        # NaN is not JSON (RFC 8259), whatever Python's json module reads.
        raw({"transfers": [transfer(VALID_ID)]}).replace(b"100", b"NaN"), 400, "malformed_json",
        id="nan_amount",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("content", "status", "code"), BAD_BATCHES)
def test_a_bad_batch_is_refused_with_its_code_and_writes_nothing(
    client: TestClient,
    ledger: Ledger,
    seeded: dict[str, Any],
    content: bytes,
    status: int,
    code: str,
) -> None:
    response = client.post(
        "/v1/transfers", content=content, headers={"content-type": "application/json"}
    )

    assert_problem(response, status, code)
    assert_nothing_written(client, ledger, seeded, VALID_ID, "tr_0", f"tr_{8189}")


# -- the limits themselves are allowed -----------------------------------------------------


def test_the_largest_batch_is_accepted_in_full(client: TestClient, ledger: Ledger) -> None:
    for account_id in ("acct_a", "acct_b"):
        client.post("/v1/accounts", json={"id": account_id, "currency": "CNY"})
    batch = [transfer(f"tr_{i}", amount=1) for i in range(limits.TRANSFER_BATCH_MAX)]

    response = client.post("/v1/transfers", json={"transfers": batch})

    assert response.status_code == 200
    assert {r["result"] for r in response.json()["results"]} == {"created"}
    assert client.get("/v1/accounts/acct_b").json()["credits_posted"] == limits.TRANSFER_BATCH_MAX
    assert ledger.check().ok


def test_the_largest_amount_is_accepted(client: TestClient, ledger: Ledger) -> None:
    for account_id in ("acct_a", "acct_b"):
        client.post("/v1/accounts", json={"id": account_id, "currency": "CNY"})

    response = client.post(
        "/v1/transfers", json={"transfers": [transfer("tr_max", amount=limits.AMOUNT_MAX)]}
    )

    assert response.json()["results"] == [{"id": "tr_max", "result": "created"}]
    assert client.get("/v1/transfers/tr_max").json()["amount"] == limits.AMOUNT_MAX
    assert client.get("/v1/accounts/acct_b").json()["credits_posted"] == limits.AMOUNT_MAX
    assert ledger.check().ok


@pytest.mark.parametrize(
    ("size", "accepted"),
    [(limits.METADATA_BYTES_MAX, True), (limits.METADATA_BYTES_MAX + 1, False)],
    ids=["at_limit", "one_byte_over"],
)
def test_metadata_is_accepted_up_to_its_byte_limit_and_not_one_byte_more(
    client: TestClient, ledger: Ledger, seeded: dict[str, Any], size: int, accepted: bool
) -> None:
    metadata = metadata_of_size(size)
    assert len(json.dumps(metadata, separators=(",", ":")).encode()) == size

    response = client.post(
        "/v1/transfers", json={"transfers": [transfer(VALID_ID, metadata=metadata)]}
    )

    if accepted:
        assert response.json()["results"] == [{"id": VALID_ID, "result": "created"}]
        assert client.get(f"/v1/transfers/{VALID_ID}").json()["metadata"] == metadata
    else:
        assert_problem(response, 422, "metadata_too_large")
        assert_nothing_written(client, ledger, seeded, VALID_ID)


# -- accounts ------------------------------------------------------------------------------

BAD_ACCOUNTS = [
    pytest.param({"currency": "XYZ"}, 422, "unknown_currency", id="unknown_currency"),
    pytest.param({"currency": "cny"}, 422, "unknown_currency", id="lowercase_currency"),
    pytest.param({"currency": 156}, 422, "wrong_type", id="numeric_currency"),
    pytest.param({"currency": "CNY", "colour": "red"}, 422, "unknown_field", id="unknown_field"),
    pytest.param(
        {"currency": "CNY", "flags": ["overdraft"]}, 422, "unknown_flag", id="unknown_flag"
    ),
    pytest.param(
        {"currency": "CNY", "metadata": HUGE_METADATA}, 422, "metadata_too_large",
        id="huge_metadata",
    ),
    pytest.param(
        {"currency": "CNY", "flags": ["debits_must_not_exceed_credits",
                                      "credits_must_not_exceed_debits"]},
        422, "flags_are_mutually_exclusive", id="both_limit_flags",
    ),
    pytest.param({"currency": "CNY", "code": 1.5}, 422, "wrong_type", id="float_code"),
    pytest.param(
        {"currency": "CNY", "code": limits.CODE_MAX + 1}, 422, "code_must_not_exceed_max",
        id="code_over_max",
    ),
    pytest.param({}, 422, "missing_field", id="no_currency"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "status", "code"), BAD_ACCOUNTS)
def test_a_bad_account_is_refused_with_its_code_and_not_created(
    client: TestClient,
    ledger: Ledger,
    seeded: dict[str, Any],
    fields: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = client.post("/v1/accounts", json={"id": "acct_new", **fields})

    assert_problem(response, status, code)
    assert client.get("/v1/accounts/acct_new").status_code == 404
    assert_nothing_written(client, ledger, seeded)


def test_a_malformed_account_body_is_refused_with_malformed_json(
    client: TestClient, ledger: Ledger, seeded: dict[str, Any]
) -> None:
    response = client.post(
        "/v1/accounts", content=b'{"id": "acct_new", "currency": "CNY"',
        headers={"content-type": "application/json"},
    )  # fmt: skip

    assert_problem(response, 400, "malformed_json")
    assert client.get("/v1/accounts/acct_new").status_code == 404
    assert_nothing_written(client, ledger, seeded)


# -- reads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [0, limits.ENTRIES_PAGE_MAX + 1])
def test_an_entries_limit_out_of_range_is_refused_with_limit_out_of_range(
    client: TestClient, seeded: dict[str, Any], limit: int
) -> None:
    response = client.get("/v1/accounts/acct_a/entries", params={"limit": limit})

    assert_problem(response, 422, "limit_out_of_range")


def test_an_unknown_status_is_refused_and_the_account_keeps_its_status(
    client: TestClient, ledger: Ledger, seeded: dict[str, Any]
) -> None:
    response = client.post("/v1/accounts/acct_a/status", json={"status": "deleted"})

    assert_problem(response, 422, "invalid_value")
    assert_nothing_written(client, ledger, seeded)
