"""`paycore aml cases ...` against the test database (the sub-app itself, until the lead
mounts it under `paycore aml`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from paycore.aml.cases import Cases
from paycore.aml.cli_cases import cases_app
from tests.aml.kit import Warehouse, at
from tests.aml.test_cases_fixtures import (  # noqa: F401
    FIELD_KEYS,
    alert,
    cases_fixture,
    cipher_fixture,
    empty_aml_tables_fixture,
    lookup_fixture,
)

Run = Callable[..., Result]


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture
def run(database_url: str, tmp_path: Path, warehouse: Path) -> Run:
    runner = CliRunner()
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "data"),
        "PAYCORE_FIELD_KEYS": FIELD_KEYS,
        "PAYCORE_WAREHOUSE_DIR": str(warehouse),
    }

    def invoke(*args: str) -> Result:
        return runner.invoke(cases_app, list(args), env=env)

    return invoke


def test_an_analyst_works_a_case_from_the_command_line(run: Run, cases: Cases) -> None:
    (case_id,) = cases.open_cases([alert()], period="2026-11").opened

    steps = [
        run("assign", case_id, "analyst-7", "--version", "1", "--actor", "lead"),
        run("investigate", case_id, "--version", "2"),
        run("note", case_id, "Called the owner 王小明", "--version", "3"),
        run("str", case_id, "--conclusion", "a front", "--version", "4", "--format", "json"),
        run("report", case_id, "--version", "5"),
    ]
    listed = run("list", "--status", "reported")
    shown = run("show", case_id)
    page = run("str", case_id)

    assert [s.exit_code for s in steps] == [0] * 5, [s.output for s in steps]
    assert json.loads(steps[3].stdout)["conclusion"] == "a front"
    assert case_id in listed.stdout and "reported" in listed.stdout
    assert "note: Called the owner 王小明" in shown.stdout
    assert "#6" in shown.stdout and "investigating->reported" in shown.stdout
    assert page.stdout.startswith("# 可疑交易报告 (草稿)")
    assert cases.get(case_id).assignee == "analyst-7"


def test_a_refused_step_exits_2_with_its_code(run: Run, cases: Cases) -> None:
    (case_id,) = cases.open_cases([alert()], period="2026-11").opened

    stale = run("investigate", case_id, "--version", "9")
    early = run("dismiss", case_id, "--version", "1", "--note", "fine")
    unknown = run("show", "amlc_nope")

    assert (stale.exit_code, early.exit_code, unknown.exit_code) == (2, 2, 2)
    assert "case_version_conflict" in stale.output
    assert "case_transition_invalid" in early.output
    assert "case_not_found" in unknown.output


def test_open_scores_the_warehouse_and_opens_cases_once(
    run: Run, cases: Cases, warehouse: Path
) -> None:
    house = Warehouse()
    for day in range(3):
        for k in range(35):
            house.payin("mch_front", 150_000, at(day, 3, k), payer=f"f{day}-{k}")
    house.write(warehouse)

    first = run("open", "--period", "2025-08")
    second = run("open", "--period", "2025-08")

    assert first.exit_code == 0, first.output
    assert "opened 1" in first.stdout and "unchanged 1" in second.stdout
    (case,) = cases.list_cases()
    assert (case.subject_id, case.typologies) == ("mch_front", ("fan_in",))
