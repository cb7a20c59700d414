"""The custody API: a deal's life over HTTP, cut-offs and checks for platform keys only,
and bad input refused as problem+json with a stable code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient

from paycore.runtime import Runtime
from tests.custody.conftest import Desk
from tests.custody.test_cutoff import MIDNIGHT


@pytest.fixture
def merchant_auth(runtime: Runtime, desk: Desk) -> dict[str, str]:
    _key, clear = runtime.api_keys.issue(merchant_id=desk.merchant_id, scopes=None)
    return {"Authorization": f"Bearer {clear}"}


class Answer(Protocol):
    """What a test client answers (structural: the client's httpx flavour may vary)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


def assert_problem(answer: Answer, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code


DEAL = {
    "bank": "sandbox_custody",
    "buyer": "buyer-1",
    "seller": "seller-1",
    "agency": "agency-1",
    "deposit_amount": 100_000,
}


def test_a_deal_is_created_matched_and_closed_over_http(
    client: TestClient, desk: Desk, merchant_auth: dict[str, str]
) -> None:
    created = client.post("/v1/custody/deals", json=DEAL, headers=merchant_auth)
    assert created.status_code == 201, created.text
    deal_id = created.json()["id"]
    payin = desk.pay("buyer-1", 100_000)

    receipts = client.get("/v1/custody/receipts", headers=merchant_auth).json()["data"]
    matched = client.post(
        f"/v1/custody/deals/{deal_id}/match", json={"receipt_id": payin}, headers=merchant_auth
    )
    closed = client.post(
        f"/v1/custody/deals/{deal_id}/close",
        json={"commission": 30_000, "rest_to": "seller"},
        headers=merchant_auth,
    )
    subaccounts = client.get(
        "/v1/custody/subaccounts", params={"bank": "sandbox_custody"}, headers=merchant_auth
    ).json()["data"]

    assert [r["id"] for r in receipts] == [payin]
    assert matched.json()["status"] == "matched"
    assert closed.json()["status"] == "closed"
    assert {s["owner"]: s["balance"] for s in subaccounts} == {
        "buyer-1": 0,
        "seller-1": 70_000,
        "agency-1": 30_000,
    }


def test_a_platform_key_runs_the_cutoff_and_the_check_and_reads_their_reports(
    client: TestClient, desk: Desk
) -> None:
    payin = desk.pay("buyer-1", 10_000)
    early = client.post(
        "/v1/custody/cutoffs", json={"bank": "sandbox_custody", "business_date": "2026-03-10"}
    )
    desk.move_to(MIDNIGHT)
    ran = client.post(
        "/v1/custody/cutoffs", json={"bank": "sandbox_custody", "business_date": "2026-03-10"}
    )
    shown = client.get("/v1/custody/cutoffs/sandbox_custody/2026-03-10")
    checked = client.post(
        "/v1/custody/checks", json={"bank": "sandbox_custody", "business_date": "2026-03-10"}
    )

    assert_problem(early, 422, "business_day_not_ended")
    assert ran.status_code == 200, ran.text
    assert [line["receipt_id"] for line in ran.json()["lines"]] == [payin]
    assert shown.json()["lines"] == ran.json()["lines"]
    assert checked.json()["ok"] is True and checked.json()["pool_balance"] == 0


def test_a_merchant_key_may_not_run_a_banks_cutoff_or_check(
    client: TestClient, merchant_auth: dict[str, str]
) -> None:
    day = {"bank": "sandbox_custody", "business_date": "2026-03-09"}

    assert_problem(
        client.post("/v1/custody/cutoffs", json=day, headers=merchant_auth), 403, "forbidden"
    )
    assert_problem(
        client.post("/v1/custody/checks", json=day, headers=merchant_auth), 403, "forbidden"
    )


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"deposit_amount": 0}, 422, "amount_must_be_positive"),
        ({"deposit_amount": "100"}, 422, "wrong_type"),
        ({"colour": "red"}, 422, "unknown_field"),
        ({"bank": "nowhere"}, 404, "custody_bank_not_found"),
        ({"buyer": "a b"}, 422, "invalid_owner"),
        ({"seller": "buyer-1"}, 422, "deal_parties_must_differ"),
    ],
)
def test_a_deal_with_bad_input_is_refused_with_a_stable_code_and_creates_nothing(
    client: TestClient,
    desk: Desk,
    merchant_auth: dict[str, str],
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    answer = client.post("/v1/custody/deals", json={**DEAL, **change}, headers=merchant_auth)

    assert_problem(answer, status, code)
    assert desk.runtime.custody.deals(desk.merchant_id) == []


def test_bad_input_to_subaccounts_matching_closing_and_cutoffs_is_refused(
    client: TestClient, desk: Desk, merchant_auth: dict[str, str]
) -> None:
    deal_id = client.post("/v1/custody/deals", json=DEAL, headers=merchant_auth).json()["id"]
    other, _ = desk.runtime.merchants.create(name="Other", fee_bps=0)
    _key, other_key = desk.runtime.api_keys.issue(merchant_id=other.id, scopes=None)
    other_auth = {"Authorization": f"Bearer {other_key}"}
    cases = [
        (
            client.post(
                "/v1/custody/subaccounts",
                json={"bank": "sandbox_custody", "owner": "x1", "role": "boss"},
                headers=merchant_auth,
            ),
            422,
            "invalid_value",
        ),
        (
            client.post(
                f"/v1/custody/deals/{deal_id}/match",
                json={"receipt_id": "pay_nothing"},
                headers=merchant_auth,
            ),
            404,
            "receipt_not_found",
        ),
        (
            client.post(
                f"/v1/custody/deals/{deal_id}/close",
                json={"commission": 0},
                headers=merchant_auth,
            ),
            422,
            "deal_not_funded",
        ),
        (
            client.post(
                f"/v1/custody/deals/{deal_id}/close",
                json={"commission": "5"},
                headers=merchant_auth,
            ),
            422,
            "wrong_type",
        ),
        (client.get(f"/v1/custody/deals/{deal_id}", headers=other_auth), 404, "deal_not_found"),
        (
            client.post(
                "/v1/custody/cutoffs", json={"bank": "sandbox_custody", "business_date": "3/10"}
            ),
            422,
            "invalid_date",
        ),
        (client.get("/v1/custody/cutoffs/sandbox_custody/2026-01-01"), 404, "cutoff_run_not_found"),
    ]

    for answer, status, code in cases:
        assert_problem(answer, status, code)
    assert desk.runtime.custody.get_deal(desk.merchant_id, deal_id).status == "open"


def test_the_banks_are_listed_with_their_zone_cutoff_and_mode(client: TestClient) -> None:
    banks = client.get("/v1/custody/banks").json()["data"]

    assert [(b["name"], b["timezone"], b["cutoff"], b["mode"]) for b in banks] == [
        ("sandbox_custody", "Asia/Shanghai", "24:00", "full"),
        ("pool_bank", "Asia/Shanghai", "24:00", "light"),
    ]


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_cutoff_or_check_of_a_day_at_the_end_of_the_calendar_is_refused_not_a_crash(
    client: TestClient, desk: Desk, day: str
) -> None:
    body = {"bank": "sandbox_custody", "business_date": day}

    assert_problem(client.post("/v1/custody/cutoffs", json=body), 422, "date_out_of_range")
    assert_problem(client.post("/v1/custody/checks", json=body), 422, "date_out_of_range")
    assert client.get("/v1/custody/checks", params={"bank": "sandbox_custody"}).json() == {
        "data": []
    }
