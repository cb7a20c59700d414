"""`paycore security rotate-kek|rotate-dek|reencrypt|keys-status` on the file provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from paycore.merchants.service import Merchants
from paycore.platform.config import Settings
from paycore.security.cli_keys import security_keys_app
from paycore.security.crypto import load_field_cipher
from paycore.security.reencrypt import values_per_key
from tests.security.conftest_keys import key_tables_fixture  # noqa: F401

SECRETS = "merchants.webhook_secret_enc"


@pytest.fixture
def settings(
    key_tables: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("PAYCORE_DATABASE_URL", database_url)
    monkeypatch.setenv("PAYCORE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PAYCORE_FIELD_KEYS", raising=False)
    monkeypatch.delenv("PAYCORE_FIELD_KEY_ID", raising=False)
    return Settings.from_env()


def _run(*args: str) -> str:
    result = CliRunner().invoke(security_keys_app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_rotating_both_keys_and_reencrypting_leaves_every_value_on_the_new_data_key(
    settings: Settings, key_tables: Engine
) -> None:
    cipher = load_field_cipher(settings).bind(key_tables)
    first = Merchants(key_tables, cipher).create(name="m", webhook_url="https://example.test/h")
    keks_before = json.loads((Path(settings.data_dir) / "keys" / "kek.json").read_text())

    rotated = _run("rotate-dek")
    new_dek = rotated.split()[2]
    _run("reencrypt", "--offline")
    _run("rotate-kek", "--destroy-previous")
    status = _run("keys-status")

    assert values_per_key(key_tables)[SECRETS] == {new_dek: 1}
    assert f"{new_dek}" in status and "active" in status and "retired" in status
    keks_after = json.loads((Path(settings.data_dir) / "keys" / "kek.json").read_text())
    assert set(keks_after["keks"]).isdisjoint(keks_before["keks"])
    again = load_field_cipher(settings).bind(key_tables)
    endpoint = Merchants(key_tables, again).webhook_endpoint(first[0].id)
    assert endpoint is not None and endpoint.secret == first[1]
