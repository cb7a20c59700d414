"""`paycore incidents list|show|review` against the test database (the sub-app itself,
until the integrator mounts it on `paycore`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.ops.cli import incidents_app
from paycore.ops.incidents import Incidents
from tests.ops.conftest_incidents import (  # noqa: F401
    closed,
    incidents_fixture,
    signal,
    thresholds_fixture,
)

Run = Callable[..., Result]


@pytest.fixture
def run(database_url: str) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(incidents_app, list(args), env={"PAYCORE_DATABASE_URL": database_url})

    return invoke


def test_list_show_and_review_an_incident(
    run: Run, incidents: Incidents, clock: ManualClock
) -> None:
    incident_id = closed(incidents, clock, "breaker:alpha")
    still_open = incidents.reconcile([signal("breaker:beta", since=clock.now())]).opened[0]

    listed = run("list", "--status", "resolved")
    assert listed.exit_code == 0, listed.output
    assert incident_id in listed.output and still_open not in listed.output
    assert "awaiting review" in listed.output

    reviewed = run("review", incident_id, "--by", "alice", "--grade", "c", "--cause", "bank down")
    assert reviewed.exit_code == 0, reviewed.output
    shown = run("show", incident_id)
    assert shown.exit_code == 0
    assert "bank down" in shown.output and "reviewed by alice" in shown.output
    assert incidents.get(incident_id).grade is not None

    by_grade = run("list", "--grade", "C", "--from", "2025-12-31")
    assert incident_id in by_grade.output and still_open not in by_grade.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "inc_nope"), "incident_not_found"),
        (("review", "inc_nope", "--by", "alice"), "incident_not_found"),
        (("list", "--grade", "E"), "invalid_grade"),
        (("list", "--from", "yesterday"), "invalid_period"),
    ],
)
def test_errors_print_their_code_and_exit_non_zero(
    run: Run, args: tuple[str, ...], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_reviewing_an_open_incident_fails_with_its_code(
    run: Run, incidents: Incidents, clock: ManualClock
) -> None:
    still_open = incidents.reconcile([signal(since=clock.now())]).opened[0]
    result = run("review", still_open, "--by", "alice", "--grade", "A")
    assert result.exit_code == 2 and "incident_still_open" in result.output
