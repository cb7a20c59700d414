"""`paycore custody ...` on the test database: reading, opening, deals, reports, checks,
and bad input refused with exit code 2 before anything changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from paycore.cli import app
from paycore.clock import ManualClock
from paycore.custody.model import day_end
from paycore.platform.config import Settings
from paycore.security.crypto import FieldCipher, load_field_cipher
from tests.custody.conftest import BANKS, Desk

Paycore = Callable[..., Result]


@pytest.fixture
def field_cipher(tmp_path: Path) -> FieldCipher:
    """The CLI's own keys (its data directory), so the desk reads what the CLI sealed (a
    sub-account's virtual account number) and the other way round."""
    settings = Settings(database_url="", expiry_interval_s=1.0, data_dir=str(tmp_path / "cli-var"))
    return load_field_cipher(settings)


@pytest.fixture
def clock() -> ManualClock:
    """Now: the CLI runs on the system clock, so a receipt made here is still today's."""
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def paycore(database_url: str, tmp_path: Path) -> Paycore:
    banks_file = tmp_path / "cli-custody.json"
    banks_file.write_text(json.dumps(BANKS), encoding="utf-8")
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "cli-var"),
        "PAYCORE_CUSTODY_FILE": str(banks_file),
        "PAYCORE_CHANNELS_FILE": "",
        "PAYCORE_FIELD_KEYS": "",
    }
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, ["custody", *args], env=env)

    return run


def test_the_banks_command_lists_the_configured_banks(paycore: Paycore) -> None:
    result = paycore("banks")

    assert result.exit_code == 0, result.output
    assert [b["name"] for b in json.loads(result.output)["data"]] == [
        "sandbox_custody",
        "pool_bank",
    ]


def test_a_deal_is_created_matched_and_closed_from_the_terminal(
    paycore: Paycore, desk: Desk
) -> None:
    created = paycore(
        "deal-create",
        "--merchant", desk.merchant_id,
        "--buyer", "buyer-1",
        "--seller", "seller-1",
        "--agency", "agency-1",
        "--deposit", "50000",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    deal_id = json.loads(created.output)["id"]
    payin = desk.pay("buyer-1", 50_000)

    listed = paycore("receipts", "--merchant", desk.merchant_id)
    matched = paycore("match", deal_id, payin)
    closed = paycore("close-deal", deal_id, "--commission", "1500")

    assert payin in listed.output
    assert matched.exit_code == 0, matched.output
    assert closed.exit_code == 0, closed.output
    assert json.loads(closed.output)["status"] == "closed"
    assert (desk.balance("seller-1"), desk.balance("agency-1")) == (48_500, 1_500)


def test_a_subaccount_opened_again_with_another_role_exits_2(paycore: Paycore, desk: Desk) -> None:
    first = paycore(
        "open-subaccount", "seller-1", "--merchant", desk.merchant_id, "--role", "seller"
    )
    again = paycore(
        "open-subaccount", "seller-1", "--merchant", desk.merchant_id, "--role", "agency"
    )

    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["virtual_account"].startswith("6228")
    assert again.exit_code == 2
    assert "subaccount_exists_with_different_role" in again.output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("cutoff", "2026-13-01"), "invalid_date"),
        (("cutoff", "2026-03-10", "--bank", "nowhere", "--show"), "custody_bank_not_found"),
        (("cutoff", "2020-01-01", "--show"), "cutoff_run_not_found"),
        (("check", "yesterday"), "invalid_date"),
        (("close-deal", "deal_missing", "--commission", "1"), "deal_not_found"),
        (("match", "deal_missing", "pay_missing"), "receipt_not_found"),
    ],
)
def test_bad_input_exits_2_with_the_code(
    paycore: Paycore, args: tuple[str, ...], code: str
) -> None:
    result = paycore(*args)

    assert result.exit_code == 2, result.output
    assert code in result.output


def test_the_check_and_the_cutoff_report_are_shown(paycore: Paycore, desk: Desk) -> None:
    payin = desk.pay("buyer-1", 10_000)
    day = desk.receipt(payin).business_date

    ok = paycore("check", day.isoformat())
    off = paycore("check", day.isoformat(), "--bank-balance", "10001")
    desk.move_to(day_end(desk.runtime.custody.bank("sandbox_custody"), day))
    desk.runtime.custody.run_cutoff("sandbox_custody", day)
    shown = paycore("cutoff", day.isoformat(), "--show")

    assert ok.exit_code == 0 and json.loads(ok.output)["ok"] is True
    assert off.exit_code == 1 and json.loads(off.output)["difference"] == 1
    assert shown.exit_code == 1, shown.output  # the refund is still on its way
    assert "buyer-1" in shown.output and "refund_processing" in shown.output
    assert "incomplete" in shown.output
