"""Rewards over HTTP and on the command line: budgets, batches, result files, bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.cli import app
from paycore.runtime import Runtime
from tests.payments.conftest import fund_merchant
from tests.payments.http_conftest import Tenant, new_tenant

BUDGET = {
    "budget_id": "spring",
    "name": "Spring campaign",
    "currency": "CNY",
    "row_amount_max": 5_000,
    "recipient_total_max": 8_000,
}


def ready_tenant(runtime: Runtime, client: TestClient, name: str = "Shop") -> Tenant:
    """A merchant with 500.00 CNY, a budget funded with 100.00 and wallets of u1 and u2."""
    tenant = new_tenant(runtime, name)
    fund_merchant(runtime.ledger, tenant.id, 50_000)
    for owner in ("u1", "u2"):
        runtime.wallets.open(tenant.id, owner, "CNY")
    created = client.post("/v1/reward-budgets", json=BUDGET, headers=tenant.auth)
    assert created.status_code == 201, created.text
    funded = client.post(
        "/v1/reward-budgets/spring/fund",
        json={"amount": 10_000, "reference": "f1"},
        headers=tenant.auth,
    )
    assert funded.status_code == 201, funded.text
    return tenant


def test_a_merchant_funds_a_budget_pays_a_csv_batch_and_downloads_its_result(
    client: TestClient, runtime: Runtime
) -> None:
    shop = ready_tenant(runtime, client)
    body = "recipient,amount,note\nu1,1200,thanks\nghost,5,\nu2,1.5,\nu2,300,\n"

    paid = client.post(
        "/v1/reward-batches?budget=spring&batch=b1",
        content=body,
        headers={**shop.auth, "Content-Type": "text/csv"},
    )
    again = client.post(
        "/v1/reward-batches?budget=spring&batch=b1",
        content=body,
        headers={**shop.auth, "Content-Type": "text/csv"},
    )
    summary = client.get("/v1/reward-batches/b1", headers=shop.auth)
    page = client.get("/v1/reward-batches/b1/rows?limit=2", headers=shop.auth)
    rest = client.get(
        f"/v1/reward-batches/b1/rows?after={page.json()['next_cursor']}", headers=shop.auth
    )
    result = client.get("/v1/reward-batches/b1/result.csv", headers=shop.auth)
    budget = client.get("/v1/reward-budgets/spring", headers=shop.auth)

    assert paid.status_code == 201, paid.text
    assert paid.json()["counts"] == {"paid": 2, "failed": 0, "invalid": 2, "pending": 0}
    assert again.json()["paid_amount"] == 1_500 and again.json()["runs"] == 2
    assert summary.json()["paid_amount"] == 1_500
    assert [r["row"] for r in page.json()["data"] + rest.json()["data"]] == [1, 2, 3, 4]
    lines = list(csv.DictReader(io.StringIO(result.text)))
    assert result.headers["content-type"].startswith("text/csv")
    assert [(x["recipient"], x["status"], x["reason"]) for x in lines] == [
        ("u1", "paid", ""),
        ("ghost", "invalid", "unknown_recipient"),
        ("u2", "invalid", "bad_amount"),
        ("u2", "paid", ""),
    ]
    assert lines[0]["transfer_id"].startswith("tr_rw_") and "note" not in lines[0]
    assert budget.json()["balance"] == 10_000 - 1_500
    assert runtime.wallets.get(shop.id, "u1", "CNY").balance == 1_200


def test_a_json_batch_over_http_reports_each_row(client: TestClient, runtime: Runtime) -> None:
    shop = ready_tenant(runtime, client)
    rows: list[Any] = [
        {"recipient": "u1", "amount": 100},
        {"recipient": "u2", "amount": 6_000},
        {"recipient": "u2", "amount": "-3"},
    ]
    body = {"budget_id": "spring", "batch_id": "j1", "rows": rows}

    paid = client.post("/v1/reward-batches", json=body, headers=shop.auth)
    rows_seen = client.get("/v1/reward-batches/j1/rows", headers=shop.auth).json()["data"]
    reused = client.post("/v1/reward-batches", json={**body, "rows": rows[:1]}, headers=shop.auth)

    assert paid.status_code == 201, paid.text
    assert [(r["status"], r["reason"]) for r in rows_seen] == [
        ("paid", None),
        ("invalid", "over_row_limit"),
        ("invalid", "bad_amount"),
    ]
    assert reused.status_code == 409 and reused.json()["code"] == "batch_reused"


def test_another_merchants_budgets_and_batches_answer_404(
    client: TestClient, runtime: Runtime
) -> None:
    shop = ready_tenant(runtime, client)
    rival = new_tenant(runtime, "Rival")
    client.post(
        "/v1/reward-batches",
        json={"budget_id": "spring", "batch_id": "b1", "rows": [{"recipient": "u1", "amount": 1}]},
        headers=shop.auth,
    )

    for path in (
        "/v1/reward-budgets/spring",
        "/v1/reward-batches/b1",
        "/v1/reward-batches/b1/rows",
        "/v1/reward-batches/b1/result.csv",
    ):
        answer = client.get(path, headers=rival.auth)
        assert answer.status_code == 404, (path, answer.text)
    funded = client.post(
        "/v1/reward-budgets/spring/fund", json={"amount": 1, "reference": "x"}, headers=rival.auth
    )
    paid = client.post(
        "/v1/reward-batches",
        json={"budget_id": "spring", "batch_id": "b9", "rows": []},
        headers=rival.auth,
    )
    listed = client.get("/v1/reward-budgets", headers=rival.auth)
    assert funded.status_code == 404 and paid.status_code == 404
    assert listed.json()["data"] == []


def test_bad_reward_requests_get_problems_with_stable_codes(
    client: TestClient, runtime: Runtime
) -> None:
    shop = ready_tenant(runtime, client)
    csv_headers = {**shop.auth, "Content-Type": "text/csv"}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/v1/reward-budgets", {**BUDGET, "budget_id": "a b"}, 422, "invalid_budget_id"),
        ("/v1/reward-budgets", {**BUDGET, "currency": "XXQ", "budget_id": "x"}, 422,
         "unknown_currency"),
        ("/v1/reward-budgets", {**BUDGET, "row_amount_max": 0}, 422, "invalid_limit"),
        ("/v1/reward-budgets", {**BUDGET, "row_amount_max": 99}, 409, "budget_exists"),
        ("/v1/reward-budgets", {**BUDGET, "bonus": 1}, 422, "unknown_field"),
        ("/v1/reward-budgets/spring/fund", {"amount": 1.5, "reference": "r"}, 422, "wrong_type"),
        ("/v1/reward-budgets/spring/fund", {"amount": 10**9, "reference": "r"}, 422,
         "insufficient_balance"),
        ("/v1/reward-budgets/nope/fund", {"amount": 1, "reference": "r"}, 404,
         "budget_not_found"),
        ("/v1/reward-batches", {"budget_id": "spring", "rows": []}, 422, "missing_field"),
        ("/v1/reward-batches", {"budget_id": "spring", "batch_id": "b", "rows": {}}, 422,
         "wrong_type"),
        ("/v1/reward-batches", {"budget_id": "nope", "batch_id": "b", "rows": []}, 404,
         "budget_not_found"),
        ("/v1/reward-batches", {"budget_id": "spring", "batch_id": "a/b", "rows": []}, 422,
         "invalid_batch_id"),
    ]  # fmt: skip
    for path, body, status, code in cases:
        answer = client.post(path, json=body, headers=shop.auth)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == code, answer.json()

    no_ids = client.post("/v1/reward-batches", content="recipient,amount\n", headers=csv_headers)
    bad_header = client.post(
        "/v1/reward-batches?budget=spring&batch=c1", content="who,what\n", headers=csv_headers
    )
    not_json = client.post("/v1/reward-batches", content="{", headers=shop.auth)
    platform = client.post("/v1/reward-budgets", json=BUDGET)
    assert (no_ids.status_code, no_ids.json()["code"]) == (422, "missing_field")
    assert (bad_header.status_code, bad_header.json()["code"]) == (422, "invalid_file")
    assert (not_json.status_code, not_json.json()["code"]) == (400, "malformed_json")
    assert (platform.status_code, platform.json()["code"]) == (422, "merchant_required")
    assert client.get("/v1/reward-budgets/spring", headers=shop.auth).json()["balance"] == 10_000


def test_the_command_line_creates_funds_pays_with_a_result_file_and_shows_a_batch(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    shop = new_tenant(runtime, "Shop")
    fund_merchant(runtime.ledger, shop.id, 50_000)
    runtime.wallets.open(shop.id, "u1", "CNY")
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}
    batch_file = tmp_path / "batch.csv"
    batch_file.write_text("recipient,amount\nu1,700\nghost,5\nu1,abc\n")
    json_file = tmp_path / "batch.json"
    json_file.write_text(json.dumps([{"recipient": "u1", "amount": 30}]))
    result_file = tmp_path / "out.csv"

    def paycore(*args: str) -> Any:
        return CliRunner().invoke(app, ["rewards", *args, "--merchant", shop.id], env=env)

    created = paycore("budget-create", "--budget", "b", "--name", "Promo", "--row-max", "1000",
                      "--recipient-max", "5000")  # fmt: skip
    funded = paycore("fund", "--budget", "b", "--amount", "2000", "--reference", "f1")
    paid = paycore("pay", str(batch_file), "--budget", "b", "--batch", "c1",
                   "--result", str(result_file))  # fmt: skip
    paid_json = paycore("pay", str(json_file), "--budget", "b", "--batch", "c2")
    shown = paycore("show", "c1", "--json")
    listed = paycore("budgets")
    short = paycore("fund", "--budget", "b", "--amount", "999999999", "--reference", "f2")
    missing = paycore("show", "nope")
    unreadable = paycore("pay", str(tmp_path / "none.csv"), "--budget", "b", "--batch", "c3")

    assert created.exit_code == 0, created.output
    assert funded.exit_code == 0 and '"balance": 2000' in funded.stdout
    assert paid.exit_code == 0, paid.output
    assert "paid amount" in paid.stdout and "7.00 CNY" in paid.stdout
    assert paid_json.exit_code == 0, paid_json.output
    outcomes = list(csv.DictReader(io.StringIO(result_file.read_text())))
    assert [(x["status"], x["reason"]) for x in outcomes] == [
        ("paid", ""),
        ("invalid", "unknown_recipient"),
        ("invalid", "bad_amount"),
    ]
    assert json.loads(shown.stdout)["counts"]["paid"] == 1
    assert listed.exit_code == 0 and "12.70 CNY" in listed.stdout
    assert short.exit_code == 2 and "insufficient_balance" in short.stderr
    assert missing.exit_code == 2 and "batch_not_found" in missing.stderr
    assert unreadable.exit_code == 2 and "file_unreadable" in unreadable.stderr
    assert runtime.wallets.get(shop.id, "u1", "CNY").balance == 730
