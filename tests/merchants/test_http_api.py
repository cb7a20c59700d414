"""Merchants over HTTP: admins create them and issue their keys; a merchant sees itself."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore.merchants.service import Merchants
from paycore.security.service import ApiKeys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/merchants", json={"name": "Shop", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_admin_creates_a_merchant_and_sees_its_webhook_secret_once(
    client: TestClient, merchants: Merchants
) -> None:
    response = client.post(
        "/v1/merchants",
        json={
            "id": "mch_shop",
            "name": "Shop",
            "fee_bps": 60,
            "webhook_url": "https://s.example/h",
        },
    )
    shown = client.get("/v1/merchants/mch_shop")

    body = response.json()
    assert response.status_code == 201 and response.headers["cache-control"] == "no-store"
    assert body["merchant"]["id"] == "mch_shop" and body["merchant"]["status"] == "active"
    assert body["webhook_secret"] == merchants.webhook_endpoint("mch_shop").secret  # type: ignore[union-attr]
    assert shown.json() == body["merchant"]
    assert body["webhook_secret"] not in shown.text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "Shop", "fee_bps": 10_001}, "less_than_equal"),
        ({"name": "Shop", "webhook_url": "ftp://s.example"}, "invalid_webhook_url"),
        ({"name": "Shop", "id": "has:colon"}, "invalid_merchant_id"),
        ({"name": "Shop", "unknown": 1}, "unknown_field"),
        ({}, "missing_field"),
    ],
)
def test_a_bad_merchant_is_refused_with_a_problem(
    client: TestClient, body: dict[str, Any], code: str
) -> None:
    response = client.post("/v1/merchants", json=body)

    assert response.status_code == 422
    assert response.json()["code"] == code


def test_a_taken_merchant_id_is_409(client: TestClient) -> None:
    create(client, id="mch_shop")

    response = client.post("/v1/merchants", json={"id": "mch_shop", "name": "Again"})

    assert response.status_code == 409 and response.json()["code"] == "merchant_exists"


def test_an_admin_issues_a_merchant_key_that_sees_its_merchant_and_nothing_else(
    client: TestClient,
) -> None:
    create(client, id="mch_a")
    create(client, id="mch_b")

    issued = client.post("/v1/merchants/mch_a/api-keys", json={"label": "checkout"})
    key = issued.json()["key"]

    assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store"
    assert issued.json()["scopes"] == [
        "payments:read", "payments:write", "payouts:write", "refunds:write",
    ]  # fmt: skip
    assert client.get("/v1/merchants/mch_a", headers=bearer(key)).status_code == 200
    other = client.get("/v1/merchants/mch_b", headers=bearer(key))
    assert other.status_code == 404 and other.json()["code"] == "merchant_not_found"
    assert client.get("/v1/merchants", headers=bearer(key)).status_code == 403


def test_a_merchant_key_cannot_create_merchants_or_keys(client: TestClient) -> None:
    create(client, id="mch_a")
    key = client.post("/v1/merchants/mch_a/api-keys", json={}).json()["key"]

    assert client.post("/v1/merchants", json={"name": "X"}, headers=bearer(key)).status_code == 403
    again = client.post("/v1/merchants/mch_a/api-keys", json={}, headers=bearer(key))
    assert again.status_code == 403 and again.json()["code"] == "forbidden"


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        ({"scopes": ["admin"]}, "admin_scope_needs_platform_key", 422),
        ({"scopes": ["everything"]}, "unknown_scope", 422),
        ({"scopes": []}, "scopes_required", 422),
    ],
)
def test_merchant_keys_with_bad_scopes_are_refused(
    client: TestClient, body: dict[str, Any], code: str, status: int
) -> None:
    create(client, id="mch_a")

    response = client.post("/v1/merchants/mch_a/api-keys", json=body)

    assert response.status_code == status and response.json()["code"] == code


def test_a_key_for_an_unknown_merchant_is_404(client: TestClient, api_keys: ApiKeys) -> None:
    response = client.post("/v1/merchants/mch_nobody/api-keys", json={})

    assert response.status_code == 404 and response.json()["code"] == "merchant_not_found"
    assert [k.merchant_id for k in api_keys.list()] == [None]  # only the tests' admin key


def test_merchants_are_listed_for_admins_by_pages(client: TestClient) -> None:
    for n in range(3):
        create(client, id=f"mch_{n}")

    first = client.get("/v1/merchants?limit=2").json()
    rest = client.get(f"/v1/merchants?after={first['next_cursor']}").json()

    assert [m["id"] for m in first["merchants"] + rest["merchants"]] == ["mch_0", "mch_1", "mch_2"]
    assert rest["next_cursor"] is None
