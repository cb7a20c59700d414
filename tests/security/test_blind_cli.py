"""`paycore security lookup backfill|find` against the test database."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.security.blind import load_blind_indexer
from paycore.security.blind_service import BlindIndex
from paycore.security.cli_lookup import lookup_app
from paycore.security.crypto import FieldCipher
from tests.security.conftest_blind import blind_index_fixture, seal_order  # noqa: F401

CARD = "6217001234567890128"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> FieldCipher:
    """The command's settings: this database, a data dir of its own (where the development
    blind key is made), and a field key the test seals with too."""
    key = os.urandom(32)
    monkeypatch.setenv("PAYCORE_DATABASE_URL", database_url)
    monkeypatch.setenv("PAYCORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PAYCORE_FIELD_KEYS", f"cli1:{base64.b64encode(key).decode()}")
    monkeypatch.delenv("PAYCORE_BLIND_INDEX_KEY", raising=False)
    return FieldCipher({"cli1": key}, "cli1")


def test_the_backfill_command_resumes_and_find_lists_the_orders_without_the_number(
    cli_env: FieldCipher,
    engine: Engine,
    clock: ManualClock,
    tmp_path: Path,
    blind_index: BlindIndex,  # empties the index tables
) -> None:
    orders = sorted(
        seal_order(engine, cli_env, clock, merchant_id="m_a", party={"card_number": CARD})
        for _ in range(3)
    )
    runner = CliRunner()

    stopped = runner.invoke(lookup_app, ["backfill", "--page-size", "2", "--pages", "1"])
    assert stopped.exit_code == 0, stopped.output
    assert "stopped early" in stopped.output
    done = runner.invoke(lookup_app, ["backfill", "--page-size", "2"])
    assert done.exit_code == 0, done.output
    assert "done" in done.output

    found = runner.invoke(lookup_app, ["find", "--card-number", "6217 0012 3456 7890 128"])
    assert found.exit_code == 0, found.output
    assert [line for line in orders if line in found.output] == orders
    assert "3 object(s)" in found.output
    same_key = BlindIndex(engine, load_blind_indexer("", tmp_path), clock)
    assert len(same_key.find("card_number", CARD)) == 3


def test_find_refuses_something_that_is_not_a_number(cli_env: FieldCipher) -> None:
    refused = CliRunner().invoke(lookup_app, ["find", "--phone", "12345"])
    assert refused.exit_code == 2
    assert "invalid_lookup_value" in refused.output
