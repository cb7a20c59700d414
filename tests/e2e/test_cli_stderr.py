"""The `paycore` command masks personal numbers in what it writes to stderr: error
messages quoting an argument, tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CARD, PHONE = "6228480402564890018", "13812345678"


def _paycore(*args: str, database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-c", "from paycore.cli import main; main()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_an_error_quoting_a_card_number_argument_shows_it_masked(
    database_url: str, tmp_path: Path
) -> None:
    done = _paycore("payins", "show", CARD, database_url=database_url, data_dir=tmp_path)

    assert done.returncode != 0
    assert "622848*********0018" in done.stderr
    assert CARD not in done.stderr + done.stdout


def test_an_error_quoting_a_phone_number_argument_shows_it_masked(
    database_url: str, tmp_path: Path
) -> None:
    done = _paycore("accounts", "show", PHONE, database_url=database_url, data_dir=tmp_path)

    assert done.returncode != 0
    assert "138****5678" in done.stderr
    assert PHONE not in done.stderr + done.stdout


def test_an_uncaught_traceback_shows_numbers_masked(tmp_path: Path) -> None:
    code = (
        "from paycore.security.masking import redact_stderr; redact_stderr(); "
        f"raise ValueError('card {CARD}')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert "ValueError: card 622848*********0018" in done.stderr
    assert CARD not in done.stderr
