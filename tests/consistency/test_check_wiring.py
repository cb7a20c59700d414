"""The flow check where operations meet it: `paycore ledger check` exits 1 with a table of
disagreements, the scheduled self-check records a failure (and /metrics shows it), and
platform keys read it over HTTP."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.cli import app
from paycore.consistency.model import Disagreement
from paycore.ledger.checks import LedgerChecks
from paycore.ledger.model import TransferFlags, TransferRequest
from paycore.runtime import Runtime
from tests.consistency.payments_helpers import processing_payout
from tests.payments.conftest import World
from tests.payments.http_conftest import new_tenant


def double_spend(world: World) -> str:
    """A payout in flight whose hold a merchant voided through the ledger (issue 10)."""
    order_id = processing_payout(world, amount=20_000)
    [result] = world.ledger.create_transfers(
        [
            TransferRequest(
                id="tr_by_merchant_key",
                pending_id=f"tr_{order_id}_hold",
                flags=TransferFlags.VOID_PENDING.value,
            )
        ]
    )
    assert result.result == "created"
    return order_id


def test_the_ledger_check_command_exits_1_and_names_the_order_of_a_double_spend(
    world: World, database_url: str, tmp_path: Path
) -> None:
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}
    processing_payout(world, amount=1_000, key="fine")
    clean = CliRunner().invoke(app, ["ledger", "check"], env=env)
    order_id = double_spend(world)

    caught = CliRunner().invoke(app, ["ledger", "check"], env=env)

    assert clean.exit_code == 0, clean.output
    assert "every flow agrees" in clean.stdout
    assert caught.exit_code == 1, caught.output
    assert "payout_processing_without_live_hold" in caught.stderr
    assert order_id in caught.stderr and f"tr_{order_id}_hold" in caught.stderr


def test_the_scheduled_check_records_a_double_spend_as_a_failure_and_metrics_show_it(
    world: World, runtime: Runtime, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = double_spend(world)

    with caplog.at_level(logging.ERROR):
        run = runtime.ledger_checks.tick()
    metrics = client.get("/metrics").text

    assert run is not None and not run.ok and run.trigger == "schedule"
    [finding] = run.findings
    assert (finding.code, finding.subject_id) == ("payout_processing_without_live_hold", order_id)
    [recorded] = runtime.ledger_checks.history(limit=1)
    assert not recorded.ok
    assert recorded.problems == [
        f"payout_processing_without_live_hold: {order_id} (tr_{order_id}_hold) "
        "order is processing, its hold is pending_voided"
    ]
    assert "flow check: 1 disagreements" in caplog.text
    assert "ledger check failed" in caplog.text
    assert "paycore_ledger_check_ok 0.0" in metrics


def test_platform_keys_read_the_flow_check_over_http_and_merchant_keys_cannot(
    world: World, runtime: Runtime, client: TestClient
) -> None:
    assert client.get("/v1/checks/flows").json() == {"ok": True, "found": 0, "disagreements": []}
    order_id = double_spend(world)
    shop = new_tenant(runtime, "Shop")

    read = client.get("/v1/checks/flows")
    recorded = client.post("/v1/ledger/checks")
    refused = client.get("/v1/checks/flows", headers=shop.auth)

    assert read.status_code == 200
    assert read.json() == {
        "ok": False,
        "found": 1,
        "disagreements": [
            {
                "code": "payout_processing_without_live_hold",
                "subject_id": order_id,
                "transfer_id": f"tr_{order_id}_hold",
                "detail": "order is processing, its hold is pending_voided",
            }
        ],
    }
    assert recorded.status_code == 201 and recorded.json()["ok"] is False
    assert refused.status_code == 403


def test_a_registered_check_that_cannot_run_fails_the_recorded_run(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list[Disagreement]:
        raise RuntimeError("the replica is gone")

    checks = LedgerChecks(runtime.engine, runtime.ledger, runtime.clock, flows=[broken])

    with caplog.at_level(logging.ERROR):
        run, report = checks.run(trigger="command")

    assert report.ok and not run.ok
    assert run.problems == ["check_could_not_run: broken (-) RuntimeError"]
