"""`paycore bills ...` on the test database: close days and a month, prove it, verify seals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import update
from typer.testing import CliRunner

from paycore.bills import store
from paycore.cli import app
from tests.bills.conftest import Shop

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
        return runner.invoke(app, ["bills", *args], env=env)

    return run


def test_a_closed_and_sealed_month_proves_out_from_the_terminal(
    billed_merchant: Shop, paycore: Paycore
) -> None:
    closed = paycore("close-days")
    assert closed.exit_code == 0, closed.output
    assert "2026-10-01" in json.loads(closed.output)["closed"]
    sealed = paycore("close-month", "--month", "2026-10")
    assert json.loads(sealed.output)["sealed"] == [billed_merchant.merchant_id]

    checked = paycore("check", "--month", "2026-10")

    assert checked.exit_code == 0, checked.output
    assert billed_merchant.wallet in checked.output
    assert "0 failed, 0 bad seals" in checked.output
    assert paycore("verify-seal").exit_code == 0


def test_a_mismatch_exits_1_and_names_the_account(billed_merchant: Shop, paycore: Paycore) -> None:
    paycore("close-days")
    with billed_merchant.runtime.engine.begin() as conn:
        conn.execute(
            update(store.day_balances)
            .where(store.day_balances.c.account_id == billed_merchant.wallet)
            .values(credits_posted=store.day_balances.c.credits_posted + 9)
        )

    checked = paycore("check", "--month", "2026-11")

    assert checked.exit_code == 1
    [failed] = [line for line in checked.output.splitlines() if line.startswith("mismatch")]
    assert billed_merchant.wallet in failed
    assert "!= posted transfers" in failed


def test_a_statement_prints_as_json_with_a_link_behind_every_line(
    billed_merchant: Shop, paycore: Paycore
) -> None:
    shown = paycore("statement", "--merchant", billed_merchant.merchant_id, "--period", "2026-11")

    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.output)
    assert view["period"]["kind"] == "month"
    for account in view["accounts"]:
        assert account["difference"] == 0
        assert all(line["transfers"].startswith("/v1/bills/") for line in account["movements"])


def test_a_bad_month_is_refused_with_its_code(paycore: Paycore) -> None:
    refused = paycore("check", "--month", "2026-13")

    assert refused.exit_code == 2
    assert "invalid_month" in refused.output
