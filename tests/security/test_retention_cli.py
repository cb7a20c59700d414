"""`paycore security purge [--dry-run]`, in-process against the test database."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from typer.testing import CliRunner

from paycore.security.cli_files import files_app


def kept(path: Path, age_days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"statement")
    stamp = time.time() - age_days * 86400
    os.utime(path, (stamp, stamp))
    return path


def test_purge_lists_on_a_dry_run_and_removes_on_a_real_one(
    database_url: str, tmp_path: Path
) -> None:
    files_dir = tmp_path / "bank-files"
    channels_file = tmp_path / "channels.json"
    channels_file.write_text(json.dumps({
        "channels": [{"name": "bank-h2h", "type": "h2h", "base_url": "https://h2h.example",
                      "h2h": {"debtor_name": "Paycore Ltd", "debtor_account": "6222000011112222",
                              "files_dir": str(files_dir)}}],
        "routes": [{"product": "*", "candidates": [{"channel": "bank-h2h"}]}],
    }))  # fmt: skip
    old = kept(tmp_path / "recon" / "sandbox" / "2025-01-01.statement.enc", 400)
    young = kept(tmp_path / "recon" / "sandbox" / "2026-12-01.statement.enc", 3)
    received = kept(files_dir / "inbound" / "processed" / "camt053.xml.enc", 400)
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path),
        "PAYCORE_CHANNELS_FILE": str(channels_file),
    }
    runner = CliRunner()
    dry = runner.invoke(files_app, ["purge", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert old.name in dry.output.replace("\n", "") and old.exists()
    real = runner.invoke(files_app, ["purge"], env=env)
    assert real.exit_code == 0, real.output
    assert not old.exists() and not received.exists() and young.exists()
