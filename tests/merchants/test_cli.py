"""`paycore merchants ...` and `paycore keys ...`, in-process against the test database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine
from typer.testing import CliRunner

from paycore.cli import app
from paycore.merchants.service import Merchants
from paycore.platform.config import Settings
from paycore.security.crypto import load_field_cipher


@pytest.fixture
def paycore(database_url: str, tmp_path: Path) -> Any:
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env)

    return run


def value_of(output: str, label: str) -> str:
    for line in output.splitlines():
        if line.startswith(label + " "):
            return line.split()[-1]
    raise AssertionError(f"no {label} in {output!r}")


def test_a_merchant_created_on_the_command_line_can_be_shown_and_listed(paycore: Any) -> None:
    created = paycore(
        "merchants", "create", "--name", "Rent Co", "--id", "mch_rent", "--fee-bps", "60"
    )
    shown = paycore("merchants", "show", "mch_rent")
    listed = paycore("merchants", "list")

    assert created.exit_code == 0, created.output
    secret = value_of(created.stdout, "webhook_secret")
    assert secret.startswith("whsec_") and "shown only once" in created.stderr
    assert "Rent Co" in shown.stdout and "60" in shown.stdout and secret not in shown.stdout
    assert "mch_rent" in listed.stdout and "Rent Co" in listed.stdout


def test_set_webhook_rotates_and_prints_the_new_secret_once(
    paycore: Any, database_url: str, tmp_path: Path, engine: Engine
) -> None:
    first = value_of(
        paycore("merchants", "create", "--name", "S", "--id", "mch_s").stdout, "webhook_secret"
    )

    rotated = paycore("merchants", "set-webhook", "mch_s", "https://s.example/hook")

    assert rotated.exit_code == 0, rotated.output
    second = value_of(rotated.stdout, "webhook_secret")
    # The CLI encrypted with the development key it generated under the data dir.
    settings = Settings(database_url=database_url, expiry_interval_s=1.0, data_dir=str(tmp_path))
    endpoint = Merchants(engine, load_field_cipher(settings).bind(engine)).webhook_endpoint("mch_s")
    assert second != first
    assert endpoint is not None and endpoint.secret == second
    assert endpoint.url == "https://s.example/hook"


def test_a_merchant_can_be_suspended_on_the_command_line(paycore: Any) -> None:
    paycore("merchants", "create", "--name", "S", "--id", "mch_s")

    result = paycore("merchants", "set-status", "mch_s", "suspended")

    assert result.exit_code == 0 and "mch_s is suspended" in result.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("merchants", "show", "mch_nobody"), "merchant_not_found"),
        (("merchants", "set-webhook", "mch_nobody", "https://x.example"), "merchant_not_found"),
        (("merchants", "create", "--name", "S", "--fee-bps", "10001"), "fee_bps_out_of_range"),
        (
            ("keys", "create", "--scope", "admin", "--merchant", "mch_nobody"),
            "admin_scope_needs_platform_key",
        ),
        (("keys", "create", "--merchant", "mch_nobody"), "merchant_not_found"),
        (("keys", "create"), "scopes_required"),
        (("keys", "create", "--scope", "root"), "unknown_scope"),
        (("keys", "revoke", "key_nope"), "api_key_not_found"),
    ],
)
def test_refused_commands_exit_2_and_say_why(
    paycore: Any, args: tuple[str, ...], code: str
) -> None:
    result = paycore(*args)

    assert result.exit_code == 2, result.output
    assert code in result.stderr
