"""`paycore finance push` and `paycore finance status` against a finance system served over
HTTP on this machine (the sandbox receiver in a thread)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from paycore.finance.cli import finance_app
from paycore.sandbox_finance.keys import prepare_secret
from paycore.sandbox_finance.server import run_receiver
from paycore.sandbox_finance.service import ReceiverConfig
from tests.finance.conftest import Shop
from tests.finance.conftest_push import free_port

Paycore = Callable[..., Result]


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "cli-var"),
        "PAYCORE_CHANNELS_FILE": "",
        "PAYCORE_FIELD_KEYS": "",
        "PAYCORE_FINANCE_SECRET_FILE": str(tmp_path / "sandbox-finance" / "push_secret"),
        "PAYCORE_FINANCE_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens
        "COLUMNS": "250",
    }


@pytest.fixture
def paycore(env: dict[str, str]) -> Paycore:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(finance_app, list(args), env=env)

    return run


@pytest.fixture
def receiver(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The finance system up, at the URL and with the secret the commands use."""
    data_dir = tmp_path / "sandbox-finance"
    prepare_secret(data_dir)
    with run_receiver(ReceiverConfig(data_dir=data_dir)) as url:
        env["PAYCORE_FINANCE_URL"] = url
        yield url


def row(result: Result, name: str) -> str:
    """The count in the row of the push summary table named `name`."""
    for line in result.output.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 2 and cells[1] == name:
            return cells[2]
    raise AssertionError(f"no row {name!r} in {result.output}")


def test_push_books_every_due_voucher_then_status_shows_nothing_behind(
    seeded_day: Shop, receiver: str, paycore: Paycore
) -> None:
    assert paycore("derive", "--date", "2026-11-30").exit_code == 0
    before = json.loads(paycore("status", "--json").output)

    pushed = paycore("push")
    again = paycore("push")
    after = json.loads(paycore("status", "--json").output)

    assert before["vouchers_pending"] == 6
    assert before["behind"][-1].startswith("vouchers not pushed: 6, oldest ")
    assert pushed.exit_code == 0, pushed.output
    assert (row(pushed, "booked now"), row(pushed, "still pending")) == ("6", "0")
    assert (again.exit_code, row(again, "booked now")) == (0, "0")
    assert after["vouchers_pending"] == 0
    assert not [b for b in after["behind"] if b.startswith("vouchers")]


def test_push_to_a_finance_system_that_does_not_answer_exits_1_and_leaves_them_pending(
    seeded_day: Shop, env: dict[str, str], paycore: Paycore, tmp_path: Path
) -> None:
    prepare_secret(tmp_path / "sandbox-finance")
    paycore("derive", "--date", "2026-11-30")

    pushed = paycore("push")
    status = json.loads(paycore("status", "--json").output)

    assert pushed.exit_code == 1
    assert row(pushed, "receiver failed: due after backoff") == "6"
    assert "ConnectError" in pushed.output
    assert status["vouchers_pending"] == 6


def test_push_without_the_finance_systems_secret_is_refused_with_its_code(
    paycore: Paycore,
) -> None:
    refused = paycore("push")
    assert refused.exit_code == 2 and "finance_receiver_not_configured" in refused.output


def test_status_names_a_finished_day_not_derived(seeded_day: Shop, paycore: Paycore) -> None:
    shown = paycore("status")

    assert shown.exit_code == 0
    assert "finished days not derived: " in shown.output
    assert "oldest 2026-11-30" in shown.output
