"""`paycore reports list | run`: outputs written, the journal check's verdict as the exit
code (1 naming the day and both amounts), refusals as exit 2 with their stable code."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paycore.warehouse import reports
from paycore.warehouse.cli_reports import reports_app
from tests.warehouse.report_kit import MONTH, seeded


@pytest.fixture
def kit_root(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kit's warehouse, with the CLI reading an empty migrated database."""
    monkeypatch.setenv("PAYCORE_DATABASE_URL", database_url)
    seeded(tmp_path / "warehouse")
    return tmp_path / "warehouse"


def test_list_names_every_report_and_which_check_themselves() -> None:
    listed = CliRunner().invoke(reports_app, ["list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == reports.names()
    assert any(line.startswith("daily_settlement") and "checked" in line for line in lines)


def test_run_writes_a_csv_without_checking_when_told(kit_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "settlement.csv"
    ran = CliRunner().invoke(
        reports_app,
        [
            "run",
            "daily_settlement",
            "--month",
            MONTH,
            "--warehouse",
            str(kit_root),
            "--format",
            "csv",
            "--out",
            str(out),
            "--no-check",
        ],
    )
    assert ran.exit_code == 0, ran.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows and rows[0]["dt"] == "2026-11-01"
    assert all(int(r["net"]) == int(r["wallet_in"]) - int(r["refunds"]) for r in rows)


def test_totals_the_journal_lacks_exit_1_naming_the_day_and_both_amounts(kit_root: Path) -> None:
    ran = CliRunner().invoke(
        reports_app, ["run", "refunds_clawbacks", "--month", MONTH, "--warehouse", str(kit_root)]
    )
    assert ran.exit_code == 1, ran.output
    assert "Refunds and claw-backs" in ran.stdout
    assert "check failed" in ran.stderr
    assert "refunds 2026-11-01 CNY: report 1510, journal 0" in ran.stderr


def test_a_month_both_sides_have_nothing_of_agrees(kit_root: Path) -> None:
    ran = CliRunner().invoke(
        reports_app,
        ["run", "journal_daily", "--month", "2026-05", "--warehouse", str(kit_root)],
    )
    assert ran.exit_code == 0, ran.output
    assert "agree" in ran.stderr


def test_a_chart_is_written_as_svg(kit_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "custody.svg"
    ran = CliRunner().invoke(
        reports_app,
        [
            "run",
            "custody_auto_refunds",
            "--month",
            MONTH,
            "--warehouse",
            str(kit_root),
            "--format",
            "svg",
            "--out",
            str(out),
        ],
    )
    assert ran.exit_code == 0, ran.output
    assert out.read_text(encoding="utf-8").startswith("<svg")


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["run", "nope", "--month", MONTH], "unknown_report"),
        (["run", "daily_settlement", "--month", "2026-13"], "invalid_month"),
        (["run", "daily_settlement", "--month", MONTH, "--engine", "oracle"], "unknown_engine"),
        (["run", "daily_settlement", "--month", MONTH, "--format", "pdf"], "unknown_format"),
        (["run", "daily_settlement", "--month", MONTH, "--format", "xlsx"], "out_required"),
        (["run", "merchant_monthly", "--month", MONTH, "--format", "svg"], "report_has_no_chart"),
    ],
)
def test_bad_input_is_refused_with_exit_2_and_its_code(
    kit_root: Path, arguments: list[str], code: str
) -> None:
    ran = CliRunner().invoke(reports_app, [*arguments, "--warehouse", str(kit_root)])
    assert ran.exit_code == 2, ran.output
    assert code in ran.stderr


def test_a_missing_warehouse_is_refused(tmp_path: Path) -> None:
    ran = CliRunner().invoke(
        reports_app,
        ["run", "daily_settlement", "--month", MONTH, "--warehouse", str(tmp_path / "none")],
    )
    assert ran.exit_code == 2
    assert "warehouse_not_found" in ran.stderr
