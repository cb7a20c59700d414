"""Recon over HTTP (platform keys only) and from the command line, bad input included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.recon.api import router
from paycore.recon.cli import recon_app
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import new_tenant
from tests.recon.conftest import DAY, Row, pay, write_statement


@pytest.fixture
def http(runtime: Runtime, recon: Recon, admin_key: str) -> Iterator[TestClient]:
    """The app with the recon routes (mounted here until the app assembles them itself)."""
    app = create_app(runtime=runtime)
    if not any(getattr(r, "path", "").startswith("/v1/recon/runs") for r in app.routes):
        app.include_router(router)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


def _upload(http: TestClient, path: Path, **params: str) -> Any:
    query = {"format": "test_csv", "source": "alpha", **params}
    return http.post("/v1/recon/imports", params=query, content=path.read_bytes())


def test_a_statement_is_imported_run_and_its_break_resolved_over_http(
    http: TestClient,
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    tmp_path: Path,
) -> None:
    pay(runtime, alpha, merchant_id, amount=20_000, txn="T2")
    path = write_statement(tmp_path / "s.csv", [Row("L", 19_900, channel_txn_id="T2", fee=200)])

    imported = _upload(http, path)
    replayed = _upload(http, path)
    run = http.post("/v1/recon/runs", json={"source": "alpha", "business_date": DAY.isoformat()})
    listed = http.get("/v1/recon/breaks", params={"status": "open", "type": "amount_mismatch"})
    break_id = listed.json()["data"][0]["id"]
    investigating = http.post(f"/v1/recon/breaks/{break_id}/investigate", json={"note": "why"})
    resolved = http.post(
        f"/v1/recon/breaks/{break_id}/resolve",
        json={
            "note": "fee kept by the channel",
            "adjustment": {
                "debit_account_id": "acct_fee_CNY",
                "credit_account_id": "acct_clr_alpha_CNY",
                "amount": 100,
            },
        },
    )

    assert imported.status_code == 201 and replayed.status_code == 200
    assert replayed.json()["id"] == imported.json()["id"]
    assert http.get(f"/v1/recon/imports/{imported.json()['id']}").json()["line_count"] == 1
    assert run.status_code == 201, run.text
    assert run.json()["breaks_by_type"] == {"amount_mismatch": 1}
    assert http.get(f"/v1/recon/runs/{run.json()['id']}").json()["matched"] == 1
    assert investigating.json()["status"] == "investigating"
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["status"] == "resolved" and body["adjustment_transfer_id"]
    assert [e["to_status"] for e in body["events"]] == ["investigating", "resolved"]
    assert body["events"][0]["actor"].startswith("key:")


def test_bad_recon_requests_get_problems_with_stable_codes(
    http: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    good = write_statement(tmp_path / "s.csv", [Row("S", 500)])
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text().replace("5.00", "5.0.0"))
    _upload(http, good)
    http.post("/v1/recon/runs", json={"source": "alpha", "business_date": DAY.isoformat()})
    break_id = http.get("/v1/recon/breaks").json()["data"][0]["id"]
    shop = new_tenant(runtime, "Shop")

    cases = [
        (_upload(http, good, format="mt940"), 422, "unknown_format"),
        (_upload(http, bad), 422, "malformed_statement"),
        (http.post("/v1/recon/imports?format=test_csv&source=alpha", content=b""), 422,
         "empty_statement"),
        (http.post("/v1/recon/runs", json={"source": "alpha", "business_date": "10/03"}), 422,
         "invalid_date"),
        (http.post("/v1/recon/runs", json={"source": "alpha"}), 422, "missing_field"),
        (http.get("/v1/recon/runs/rrun_nope"), 404, "run_not_found"),
        (http.get("/v1/recon/imports/imp_nope"), 404, "import_not_found"),
        (http.get("/v1/recon/breaks", params={"type": "lost"}), 422, "invalid_break_type"),
        (http.get("/v1/recon/breaks/999999"), 404, "break_not_found"),
        (http.post(f"/v1/recon/breaks/{break_id}/resolve", json={"note": ""}), 422,
         "note_required"),
        (http.post(f"/v1/recon/breaks/{break_id}/resolve", json={"note": "x", "extra": 1}), 422,
         "unknown_field"),
        (http.get("/v1/recon/breaks", headers=shop.auth), 403, "forbidden"),
    ]  # fmt: skip

    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text


def test_the_command_line_imports_runs_lists_and_resolves(
    recon: Recon, database_url: str, tmp_path: Path
) -> None:
    path = write_statement(tmp_path / "s.csv", [Row("S", 500)])
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}

    def paycore(*args: str) -> Any:
        return CliRunner().invoke(recon_app, list(args), env=env)

    imported = paycore("import", str(path), "--format", "test_csv", "--source", "alpha")
    again = paycore("import", str(path), "--format", "test_csv", "--source", "alpha")
    ran = paycore("run", "--source", "alpha", "--date", DAY.isoformat())
    listed = paycore("breaks", "--type", "missing_on_our_side")
    break_id = str(recon.list_breaks()[0]["id"])
    no_note = paycore("resolve", break_id, "--note", " ")
    half = paycore("resolve", break_id, "--note", "x", "--amount", "5")
    bad_date = paycore("run", "--source", "alpha", "--date", "yesterday")
    bad_format = paycore("import", str(path), "--format", "mt940", "--source", "alpha")
    resolved = paycore("resolve", break_id, "--note", "returned to the payer")

    assert imported.exit_code == 0, imported.output
    assert '"created": true' in imported.stdout and '"created": false' in again.stdout
    assert ran.exit_code == 0 and '"breaks_new": 1' in ran.stdout, ran.output
    assert listed.exit_code == 0 and "missing_on_our_side" in listed.stdout
    assert no_note.exit_code == 2 and "note_required" in no_note.stderr
    assert half.exit_code == 2 and "incomplete_adjustment" in half.stderr
    assert bad_date.exit_code == 2 and "invalid_date" in bad_date.stderr
    assert bad_format.exit_code == 2 and "unknown_format" in bad_format.stderr
    assert resolved.exit_code == 0 and '"status": "resolved"' in resolved.stdout
