"""JSON files given to paycore (reward batches, channel and custody configuration) are
read as strictly as request bodies: a duplicate key or deep nesting is a message naming
the problem and a non-zero exit, never a traceback and never the last value winning."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from paycore.channels.config import read_config
from paycore.cli import app
from paycore.custody.service import load_banks
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.rewards.files import csv_file

DUPLICATE = b'{"routes": [], "routes": []}'
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("content", "detail"), [(DUPLICATE, "duplicate key 'routes'"), (DEEP, "nested deeper")]
)
def test_a_channels_file_with_a_duplicate_key_or_deep_nesting_is_refused(
    tmp_path: Path, content: bytes, detail: str
) -> None:
    path = tmp_path / "channels.json"
    path.write_bytes(content)
    settings = Settings(database_url="sqlite://", expiry_interval_s=1.0, channels_file=str(path))

    with pytest.raises(Rejected) as refused:
        read_config(settings)

    assert refused.value.code == "invalid_channel_config"
    assert detail in refused.value.detail and "channels.json" in refused.value.detail


@pytest.mark.parametrize(
    ("content", "detail"), [(b'{"banks": [], "banks": []}', "duplicate key"), (DEEP, "nested")]
)
def test_a_custody_file_with_a_duplicate_key_or_deep_nesting_is_refused(
    tmp_path: Path, content: bytes, detail: str
) -> None:
    path = tmp_path / "custody.json"
    path.write_bytes(content)
    settings = Settings(database_url="sqlite://", expiry_interval_s=1.0, custody_file=str(path))

    with pytest.raises(Rejected) as refused:
        load_banks(settings)

    assert refused.value.code == "invalid_custody_config"
    assert detail in refused.value.detail


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b'[{"recipient": "u1", "amount": 1, "amount": 999999}]', "duplicate key 'amount'"),
        (DEEP, "nested deeper"),
        (b'[{"recipient": "u1", "amount": 1}]\xff', "not UTF-8"),
    ],
)
def test_a_reward_batch_file_that_is_not_strict_json_exits_2_with_a_message(
    database_url: str, tmp_path: Path, content: bytes, detail: str
) -> None:
    batch = tmp_path / "batch.json"
    batch.write_bytes(content)
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}

    result = CliRunner().invoke(
        app,
        ["rewards", "pay", str(batch), "--budget", "b", "--batch", "c", "--merchant", "m"],
        env=env,
    )

    assert result.exit_code == 2, result.output
    assert "invalid_file" in result.stderr and detail in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("name", ["Shop\x00 Ltd", "Shop\x1b[2J", "Shop\x85"])
def test_a_control_character_in_any_command_argument_exits_2_before_the_command_runs(
    database_url: str, tmp_path: Path, name: str
) -> None:
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}

    result = CliRunner().invoke(app, ["merchants", "create", "--name", name], env=env)

    assert result.exit_code == 2, result.output
    assert "invalid_text" in result.stderr and "argument 4" in result.stderr


def test_a_reward_csv_with_a_control_character_in_a_note_is_refused_whole() -> None:
    content = b"recipient,amount,note\nu1,100,ok\nu2,100,bad\x1b[31m\n"

    with pytest.raises(Rejected) as refused:
        list(csv_file(content).read())

    assert refused.value.code == "invalid_text" and "row 2" in refused.value.detail
