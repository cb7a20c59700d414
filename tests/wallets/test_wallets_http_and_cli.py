"""Wallets over HTTP and on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.cli import app
from paycore.runtime import Runtime
from tests.payments.conftest import fund_merchant
from tests.payments.http_conftest import Tenant, new_tenant


def funded_tenant(runtime: Runtime, name: str) -> Tenant:
    tenant = new_tenant(runtime, name)
    fund_merchant(runtime.ledger, tenant.id, 50_000)
    return tenant


def test_a_merchant_opens_tops_up_and_reads_its_users_wallet(
    client: TestClient, runtime: Runtime
) -> None:
    shop = funded_tenant(runtime, "Shop")

    opened = client.post("/v1/wallets", json={"owner": "u1", "currency": "CNY"}, headers=shop.auth)
    topped = client.post(
        "/v1/wallets/u1/CNY/top-ups", json={"amount": 1_200, "reference": "t1"}, headers=shop.auth
    )
    shown = client.get("/v1/wallets/u1/CNY", headers=shop.auth)
    listed = client.get("/v1/wallets/u1", headers=shop.auth)
    entries = client.get("/v1/wallets/u1/CNY/entries", headers=shop.auth)

    assert opened.status_code == 201, opened.text
    assert topped.status_code == 201 and topped.json()["wallet"]["balance"] == 1_200
    assert shown.json()["available"] == 1_200 and shown.json()["merchant_id"] == shop.id
    assert [w["currency"] for w in listed.json()["data"]] == ["CNY"]
    [entry] = entries.json()["data"]
    assert (entry["side"], entry["amount"], entry["balance"]) == ("credit", 1_200, 1_200)


def test_another_merchants_user_wallet_is_not_found(client: TestClient, runtime: Runtime) -> None:
    shop, rival = funded_tenant(runtime, "Shop"), new_tenant(runtime, "Rival")
    client.post("/v1/wallets", json={"owner": "u1", "currency": "CNY"}, headers=shop.auth)

    seen = client.get("/v1/wallets/u1/CNY", headers=rival.auth)
    topped = client.post(
        "/v1/wallets/u1/CNY/top-ups", json={"amount": 1, "reference": "x"}, headers=rival.auth
    )

    assert seen.status_code == 404 and seen.json()["code"] == "wallet_not_found"
    assert topped.status_code == 404


def test_bad_wallet_requests_get_problems_with_stable_codes(
    client: TestClient, runtime: Runtime
) -> None:
    shop = funded_tenant(runtime, "Shop")
    client.post("/v1/wallets", json={"owner": "u1", "currency": "CNY"}, headers=shop.auth)
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("post", "/v1/wallets", {"owner": "a b", "currency": "CNY"}, 422, "invalid_owner"),
        ("post", "/v1/wallets", {"owner": "u2", "currency": "XXQ"}, 422, "unknown_currency"),
        ("post", "/v1/wallets", {"owner": "u2"}, 422, "missing_field"),
        ("post", "/v1/wallets/u1/CNY/top-ups", {"amount": 1.5, "reference": "r"}, 422, ""),
        ("post", "/v1/wallets/u1/CNY/top-ups", {"amount": 10**9, "reference": "r"}, 422,
         "insufficient_balance"),
    ]  # fmt: skip
    for method, path, body, status, code in cases:
        answer = client.request(method, path, json=body, headers=shop.auth)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        if code:
            assert answer.json()["code"] == code, answer.json()

    platform = client.post("/v1/wallets", json={"owner": "u9", "currency": "CNY"})
    assert platform.status_code == 422 and platform.json()["code"] == "merchant_required"


def test_the_command_line_opens_tops_up_and_prints_a_statement(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    shop = funded_tenant(runtime, "Shop")
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}

    def paycore(*args: str) -> Any:
        return CliRunner().invoke(app, ["wallets", *args, "--merchant", shop.id], env=env)

    opened = paycore("open", "u1")
    topped = paycore("top-up", "u1", "--amount", "700", "--reference", "cli-1")
    statement = paycore("statement", "u1")
    refused = paycore("top-up", "u1", "--amount", "999999999", "--reference", "cli-2")
    missing = paycore("show", "nobody")

    assert opened.exit_code == 0, opened.output
    assert topped.exit_code == 0 and '"balance": 700' in topped.stdout
    assert statement.exit_code == 0 and "7.00" in statement.stdout
    assert refused.exit_code == 2 and "insufficient_balance" in refused.stderr
    assert missing.exit_code == 2 and "wallet_not_found" in missing.stderr
