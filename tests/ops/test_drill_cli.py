"""`paycore drill <name>` (the sub-app itself, until the integrator mounts it on
`paycore`): it prints the expectations and the timeline, and exits 1 when an expectation
fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from paycore.ops import drill_run
from paycore.ops.cli_drill import drill_app
from paycore.ops.drills import EXPECTATIONS, Caught, DrillName, Timeline, Verdict
from tests.ops.conftest_drills import DRILL_START


def test_the_drill_command_runs_a_drill_on_the_configured_database(
    database_url: str, tmp_path: Path
) -> None:
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}

    result = CliRunner().invoke(drill_app, ["bad-deploy"], env=env)

    assert result.exit_code == 0, result.output
    assert "drill bad-deploy: passed" in result.output
    assert "worker_crash_loop" in result.output
    assert "check ledger" in result.output and "check finance" in result.output


def test_the_drill_command_exits_1_and_says_why_when_an_expectation_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timeline = Timeline(DrillName.NODE_HANG, started_at=DRILL_START, fault_at=DRILL_START)
    timeline.caught = [Caught(e) for e in EXPECTATIONS[DrillName.NODE_HANG]]
    timeline.verdicts = [Verdict("ledger", False, "3 accounts disagree")]
    timeline.failures = ["no breaker_open incident within 10 s", "check ledger: disagree"]
    monkeypatch.setattr(drill_run, "run_configured", lambda _name: timeline)

    result = CliRunner().invoke(drill_app, ["node-hang"])

    assert result.exit_code == 1
    assert "drill node-hang: FAILED" in result.output
    assert "no breaker_open incident within 10 s" in result.output
    assert "NOT OPENED" in result.output
