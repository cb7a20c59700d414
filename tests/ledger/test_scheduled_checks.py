"""The ledger self-check on a schedule: it runs when due, is recorded, shows in /metrics,
and a corrupted balance is caught and reported."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from paycore.cli import app
from paycore.clock import ManualClock
from paycore.ledger.checks import LedgerChecks
from paycore.ledger.model import TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.ledger.store import accounts
from paycore.runtime import Runtime
from tests.payments.http_conftest import new_tenant


def some_money(ledger: Ledger) -> None:
    ledger.create_accounts(
        [AccountRequest(id="acct_x", currency="CNY"), AccountRequest(id="acct_y", currency="CNY")]
    )
    [result] = ledger.create_transfers([TransferRequest("tr_xy", "acct_x", "acct_y", 700, "CNY")])
    assert result.result == "created"


def test_the_scheduled_check_runs_when_due_and_not_again_within_its_interval(
    runtime: Runtime, clock: ManualClock
) -> None:
    some_money(runtime.ledger)
    checks = LedgerChecks(runtime.engine, runtime.ledger, clock, interval_s=3600)

    first = checks.tick()
    clock.advance(3599)
    too_soon = checks.tick()
    clock.advance(1)
    second = checks.tick()

    assert first is not None and first.ok and first.trigger == "schedule"
    assert too_soon is None
    assert second is not None
    assert [run.id for run in checks.history()] == [second.id, first.id]
    assert first.accounts_checked == 2


def test_a_corrupted_balance_is_recorded_as_a_failed_check_logged_and_shown_in_metrics(
    runtime: Runtime, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    some_money(runtime.ledger)
    with runtime.engine.begin() as conn:  # what a bad migration or a hand edit would do
        conn.execute(update(accounts).where(accounts.c.id == "acct_y").values(credits_posted=701))

    with caplog.at_level(logging.ERROR, logger="paycore.ledger.checks"):
        run, report = runtime.ledger_checks.run(trigger="schedule")
    metrics = client.get("/metrics").text

    assert not run.ok and not report.ok
    assert any("acct_y" in problem for problem in run.problems)
    assert "ledger check failed" in caplog.text
    assert "paycore_ledger_check_ok 0.0" in metrics
    assert "paycore_ledger_check_age_seconds" in metrics


def test_checks_run_by_hand_are_recorded_on_the_command_line_and_over_http(
    runtime: Runtime, client: TestClient, database_url: str, tmp_path: Path
) -> None:
    some_money(runtime.ledger)
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}
    shop = new_tenant(runtime, "Shop")

    by_hand = CliRunner().invoke(app, ["ledger", "check"], env=env)
    over_http = client.post("/v1/ledger/checks")
    listed = CliRunner().invoke(app, ["ledger", "checks"], env=env)
    history = client.get("/v1/ledger/checks")
    refused = client.post("/v1/ledger/checks", headers=shop.auth)

    assert by_hand.exit_code == 0, by_hand.output
    assert over_http.status_code == 201 and over_http.json()["ok"] is True
    assert listed.exit_code == 0 and "command" in listed.stdout and "http" in listed.stdout
    # The command ran on the wall clock, the server on the test's (January 2026): by time,
    # the command's run is the newer.
    assert [run["trigger"] for run in history.json()] == ["command", "http"]
    assert refused.status_code == 403
