"""Collection plans over HTTP and on the command line, and the demo scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from paycore.cli import app
from paycore.collection.demo import show
from paycore.runtime import Runtime
from tests.collection.conftest import CARD
from tests.payments.http_conftest import Tenant, new_tenant


def plan_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant": "tenant1",
        "landlord": "landlord1",
        "amount": 300_000,
        "currency": "CNY",
        "due_day": 1,
        "start_month": "2026-02",
        "periods": 3,
        "method": "wallet",
        "fee_bps": 500,
    }
    body.update(changes)
    return body


def test_a_merchant_creates_reads_pauses_resumes_and_cancels_a_plan_over_http(
    client: TestClient, runtime: Runtime, agency: Tenant
) -> None:
    created = client.post(
        "/v1/collection-plans",
        json=plan_body(method="channel", card_number=CARD, due_day="last"),
        headers=agency.auth,
    )
    plan_id = created.json()["id"]
    shown = client.get(f"/v1/collection-plans/{plan_id}", headers=agency.auth)
    listed = client.get("/v1/collection-plans", headers=agency.auth)
    paused = client.post(f"/v1/collection-plans/{plan_id}/pause", headers=agency.auth)
    resumed = client.post(f"/v1/collection-plans/{plan_id}/resume", headers=agency.auth)
    cancelled = client.post(f"/v1/collection-plans/{plan_id}/cancel", headers=agency.auth)
    again = client.post(f"/v1/collection-plans/{plan_id}/resume", headers=agency.auth)

    assert created.status_code == 201, created.text
    assert created.json()["card_number"] == "622202*********0123"
    assert (created.json()["fee"], created.json()["landlord_net"]) == (15_000, 285_000)
    schedule = shown.json()["schedule"]
    assert [line["due_date"] for line in schedule] == ["2026-02-28", "2026-03-31", "2026-04-30"]
    assert {line["status"] for line in schedule} == {"upcoming"}
    assert [p["id"] for p in listed.json()["data"]] == [plan_id]
    assert [r.json()["status"] for r in (paused, resumed, cancelled)] == [
        "paused",
        "active",
        "cancelled",
    ]
    assert again.status_code == 422 and again.json()["code"] == "plan_cancelled"


def test_another_merchants_plan_is_not_found(
    client: TestClient, runtime: Runtime, agency: Tenant
) -> None:
    rival = new_tenant(runtime, "Rival")
    plan_id = client.post("/v1/collection-plans", json=plan_body(), headers=agency.auth).json()[
        "id"
    ]

    seen = client.get(f"/v1/collection-plans/{plan_id}", headers=rival.auth)
    paused = client.post(f"/v1/collection-plans/{plan_id}/pause", headers=rival.auth)
    listed = client.get("/v1/collection-plans", headers=rival.auth)

    assert seen.status_code == 404 and seen.json()["code"] == "plan_not_found"
    assert paused.status_code == 404
    assert listed.json()["data"] == []


def test_bad_plan_requests_get_problems_with_stable_codes(
    client: TestClient, agency: Tenant
) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        (plan_body(due_day=31), 422, "invalid_due_day"),
        (plan_body(due_day="first"), 422, ""),
        (plan_body(start_month="2026/02"), 422, "invalid_start_month"),
        (plan_body(start_month="2025-12"), 422, "start_in_past"),
        (plan_body(amount=1.5), 422, "wrong_type"),
        (plan_body(method="cash"), 422, "invalid_value"),
        (plan_body(method="channel"), 422, "card_number_mismatch"),
        (plan_body(method="channel", card_number="12ab"), 422, "invalid_card_number"),
        (plan_body(fee_bps=100, fee_fixed=5), 422, "fee_ambiguous"),
        (plan_body(tenant="x", landlord="x"), 422, "tenant_is_landlord"),
        (plan_body(colour="red"), 422, "unknown_field"),
        ({"tenant": "t"}, 422, "missing_field"),
    ]
    for body, status, code in cases:
        answer = client.post("/v1/collection-plans", json=body, headers=agency.auth)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        if code:
            assert answer.json()["code"] == code, answer.json()
    missing = client.get("/v1/collection-plans/cp_nope", headers=agency.auth)
    assert missing.status_code == 404 and missing.json()["code"] == "plan_not_found"
    reused = [
        client.post("/v1/collection-plans", json=plan_body(reference="r1", amount=a), headers=h)
        for a, h in ((100_000, agency.auth), (100_001, agency.auth))
    ]
    assert reused[1].status_code == 409 and reused[1].json()["code"] == "plan_reference_reused"


def test_run_due_is_for_the_platform_only(
    client: TestClient, runtime: Runtime, agency: Tenant
) -> None:
    as_merchant = client.post("/v1/collection-plans/run-due", headers=agency.auth)
    as_platform = client.post("/v1/collection-plans/run-due")

    assert as_merchant.status_code == 403
    assert as_platform.status_code == 200
    assert as_platform.json() == {"started": 0, "retried": 0, "resumed": 0, "errors": []}


def test_the_command_line_creates_shows_pauses_and_runs_plans(
    runtime: Runtime, agency: Tenant, database_url: str, tmp_path: Path
) -> None:
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}

    def paycore(*args: str) -> Any:
        return CliRunner().invoke(app, ["collection", *args], env=env)

    created = paycore(
        "create", "--merchant", agency.id, "--tenant", "t1", "--landlord", "l1",
        "--amount", "120000", "--start-month", "2099-03", "--due-day", "last",
        "--periods", "2", "--fee-fixed", "2000",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    plan_id = created.stdout.split('"id": "')[1].split('"')[0]
    shown = paycore("show", plan_id, "--merchant", agency.id)
    listed = paycore("list", "--merchant", agency.id)
    paused = paycore("pause", plan_id)
    refused = paycore("pause", plan_id)
    bad = paycore("create", "--merchant", agency.id, "--tenant", "t1", "--landlord", "l1",
                  "--amount", "1", "--start-month", "2099-03", "--due-day", "30")  # fmt: skip
    missing = paycore("show", "cp_nope")

    assert shown.exit_code == 0 and "2099-03-31" in shown.stdout and "1,180.00" not in shown.stdout
    assert "1180.00" in shown.stdout and "upcoming" in shown.stdout
    assert listed.exit_code == 0 and plan_id[:12] in listed.stdout
    assert paused.exit_code == 0 and '"status": "paused"' in paused.stdout
    assert refused.exit_code == 2 and "plan_paused" in refused.stderr
    assert bad.exit_code == 2 and "invalid_due_day" in bad.stderr
    assert missing.exit_code == 2 and "plan_not_found" in missing.stderr


def test_the_demo_collects_three_months_with_one_retry(runtime: Runtime, agency: Tenant) -> None:
    console = Console(record=True, width=160)

    show(runtime, console, agency.id)

    text = console.export_text()
    assert text.count("paid") == 3 and "1:failed (insufficient_balance)" in text
    assert "landlord received 1455.00 CNY" in text and "completed" in text
