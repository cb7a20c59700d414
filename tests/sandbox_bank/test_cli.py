"""`paycore sandbox-bank` as users run it: its own process, keys on first start, /health."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_command_generates_keys_on_first_start_and_serves_health(tmp_path: Path) -> None:
    port = _free_port()
    data_dir = tmp_path / "bank"
    command = [
        sys.executable, "-c", "from paycore.cli import main; main()", "sandbox-bank",
        "--port", str(port), "--data-dir", str(data_dir), "--seed", "3",
        "--faults", json.dumps({"sync_rate": 1.0}),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"sandbox-bank exited: {process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            try:
                health = httpx.get(f"{base_url}/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("sandbox-bank did not start")
                time.sleep(0.1)
        faults = httpx.get(f"{base_url}/admin/faults", timeout=5).json()
    finally:
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=20)

    assert health.json() == {"status": "ok"}
    assert faults["sync_rate"] == 1.0
    for name in ("merchant_private.pem", "merchant_public.pem", "bank_private.pem",
                 "bank_public.pem", "bank.db"):  # fmt: skip
        assert (data_dir / name).exists(), name
    assert str(data_dir / "merchant_private.pem") in stdout
    assert str(data_dir / "bank_public.pem") in stdout


def test_bad_faults_json_is_refused_with_an_exit_code(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from paycore.cli import app

    result = CliRunner().invoke(
        app, ["sandbox-bank", "--data-dir", str(tmp_path), "--faults", '{"decline_rate": 3}']
    )

    assert result.exit_code == 2
    assert "decline_rate" in result.output
