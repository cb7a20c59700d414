"""`paycore keys ...`, in-process against the test database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from paycore.cli import app
from paycore.errors import Rejected
from paycore.security.service import ApiKeys


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


def test_a_platform_key_from_the_command_line_authenticates_until_revoked(
    paycore: Any, api_keys: ApiKeys
) -> None:
    created = paycore("keys", "create", "--scope", "admin", "--label", "ops")
    quiet = paycore("keys", "create", "--scope", "ledger:read", "-q")

    assert created.exit_code == 0, created.output
    key = value_of(created.stdout, "key")
    key_id = value_of(created.stdout, "key_id")
    assert "shown only once" in created.stderr
    assert api_keys.authenticate(key).is_admin
    assert api_keys.authenticate(quiet.stdout.strip()).scopes == {"ledger:read"}

    listed = paycore("keys", "list")
    revoked = paycore("keys", "revoke", key_id)

    assert key_id in listed.stdout and "ops" in listed.stdout and key not in listed.stdout
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    api_keys.clear_cache()
    with pytest.raises(Rejected, match="unauthenticated"):
        api_keys.authenticate(key)


def test_a_merchant_key_from_the_command_line_gets_the_payments_scopes(
    paycore: Any, api_keys: ApiKeys
) -> None:
    paycore("merchants", "create", "--name", "S", "--id", "mch_s")

    created = paycore("keys", "create", "--merchant", "mch_s", "-q")
    listed = paycore("keys", "list", "--merchant", "mch_s")

    principal = api_keys.authenticate(created.stdout.strip())
    assert principal.merchant_id == "mch_s"
    assert principal.scopes == {"payments:read", "payments:write", "payouts:write", "refunds:write"}
    assert "mch_s" in listed.stdout
