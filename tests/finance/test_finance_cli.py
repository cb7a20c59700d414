"""`paycore finance ...` on the test database: chart, derive, vouchers, reconcile."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import delete
from typer.testing import CliRunner

from paycore.finance import store
from paycore.finance.cli import finance_app
from tests.finance.conftest import Shop

Paycore = Callable[..., Result]


@pytest.fixture
def paycore(database_url: str, tmp_path: Path) -> Paycore:
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "cli-var"),
        "PAYCORE_CHANNELS_FILE": "",
        "PAYCORE_FIELD_KEYS": "",
        "COLUMNS": "250",
    }
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(finance_app, list(args), env=env)

    return run


def test_a_day_is_derived_listed_and_reconciled_from_the_terminal(
    seeded_day: Shop, paycore: Paycore
) -> None:
    derived = paycore("derive", "--date", "2026-11-30")
    listed = paycore("vouchers", "--date", "2026-11-30")
    reconciled = paycore("reconcile", "--date", "2026-11-30")

    assert derived.exit_code == 0, derived.output
    assert json.loads(derived.output)["written"] == 6
    assert [v["voucher_type"] for v in json.loads(listed.output)["data"]] == [
        "custody_receipt", "fee", "payin", "payout", "refund", "split"
    ]  # fmt: skip
    assert reconciled.exit_code == 0, reconciled.output
    assert "2026-11-30: ok, 0 breaks" in reconciled.output
    assert json.loads(paycore("derive", "--date", "2026-11-30").output)["written"] == 0


def test_a_day_with_a_lost_voucher_line_exits_1_and_lists_the_break(
    seeded_day: Shop, paycore: Paycore
) -> None:
    paycore("derive", "--date", "2026-11-30")
    with seeded_day.runtime.engine.begin() as conn:
        conn.execute(delete(store.voucher_lines).where(store.voucher_lines.c.ledger_code == 4002))

    reconciled = paycore("reconcile", "--date", "2026-11-30")

    assert reconciled.exit_code == 1
    assert "amount_mismatch" in reconciled.output and "600102" in reconciled.output


def test_the_chart_in_force_is_printed(paycore: Paycore) -> None:
    shown = paycore("chart")
    assert shown.exit_code == 0 and "224101" in shown.output and "商户待结算款" in shown.output


def test_a_bad_date_is_refused_with_its_code(paycore: Paycore) -> None:
    refused = paycore("vouchers", "--date", "20261130")
    assert refused.exit_code == 2 and "invalid_date" in refused.output
