"""`paycore serve` and its sandbox bank: the bank stops with the server however the server
ends, and a bank left running with other keys is refused at start."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path

import pytest

from paycore.sandbox_bank.config import BankConfig
from paycore.sandbox_bank.server import run_bank
from paycore.sandbox_finance.launcher import start_receiver, stop_receiver
from tests.e2e.processes import (
    free_port,
    paycore_serve,
    port_is_open,
    process_is_gone,
    wait_healthy,
    wait_until,
)

GONE_WITHIN_S = 10.0


def _env(database_url: str, data_dir: Path, bank_url: str) -> dict[str, str]:
    return {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(data_dir),
        "PAYCORE_SANDBOX_URL": bank_url,
        "PAYCORE_CHANNELS_FILE": "",
        "PAYCORE_WORKERS": "0",
    }


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_the_sandbox_bank_stops_with_serve_however_serve_is_stopped(
    stop: signal.Signals, database_url: str, tmp_path: Path
) -> None:
    port, bank_port = free_port(), free_port()
    env = _env(database_url, tmp_path, f"http://127.0.0.1:{bank_port}")
    output = tmp_path / "serve.out"
    with paycore_serve(["--port", str(port)], env=env, output=output) as serve:
        wait_healthy(serve, f"http://127.0.0.1:{port}/healthz", output)
        wait_healthy(serve, f"http://127.0.0.1:{bank_port}/health", output)
        found = re.search(r"sandbox bank running \(pid (\d+)\)", output.read_text())
        assert found, output.read_text()
        bank_pid = int(found.group(1))

        serve.send_signal(stop)
        serve.wait(timeout=20)

        assert wait_until(lambda: process_is_gone(bank_pid), timeout_s=GONE_WITHIN_S)
        assert not port_is_open(bank_port)


def test_serve_refuses_a_bank_already_answering_with_other_keys_and_says_what_to_do(
    database_url: str, tmp_path: Path
) -> None:
    with run_bank(BankConfig(data_dir=tmp_path / "other-checkout")) as stale_url:
        env = _env(database_url, tmp_path / "ours", stale_url)
        output = tmp_path / "serve.out"
        with paycore_serve(["--port", str(free_port())], env=env, output=output) as serve:
            code = serve.wait(timeout=30)
    said = output.read_text()

    assert code != 0
    assert f"a sandbox bank already answers on {stale_url}, but not with the keys" in said
    assert "lsof -i tcp:" in said and "PAYCORE_SANDBOX_URL" in said
    assert "Uvicorn running" not in said


def test_serve_uses_a_bank_already_answering_with_our_keys(
    database_url: str, tmp_path: Path
) -> None:
    with run_bank(BankConfig(data_dir=tmp_path / "sandbox-bank")) as bank_url:
        port = free_port()
        env = _env(database_url, tmp_path, bank_url)
        output = tmp_path / "serve.out"
        with paycore_serve(["--port", str(port)], env=env, output=output) as serve:
            wait_healthy(serve, f"http://127.0.0.1:{port}/healthz", output)

    assert f"using the sandbox bank already answering on {bank_url}" in output.read_text()


def test_serve_says_what_to_do_when_the_banks_port_is_taken_by_something_else(
    database_url: str, tmp_path: Path
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        bank_url = f"http://127.0.0.1:{squatter.getsockname()[1]}"
        env = _env(database_url, tmp_path, bank_url)
        output = tmp_path / "serve.out"
        with paycore_serve(["--port", str(free_port())], env=env, output=output) as serve:
            code = serve.wait(timeout=60)
    said = output.read_text()

    assert code != 0
    assert "error sandbox_bank_not_started:" in said and "PAYCORE_SANDBOX_URL" in said
    assert "Traceback" not in said


@pytest.mark.parametrize("sandbox", [True, False])
def test_a_finance_receiver_left_running_with_another_secret_is_refused_unless_sandboxes_are_off(
    sandbox: bool, database_url: str, tmp_path: Path
) -> None:
    finance_port, port = free_port(), free_port()
    stale = start_receiver(tmp_path / "other-checkout", port=finance_port)
    try:
        env = {
            **_env(database_url, tmp_path / "ours", f"http://127.0.0.1:{free_port()}"),
            "PAYCORE_FINANCE_URL": f"http://127.0.0.1:{finance_port}",
        }
        output = tmp_path / "serve.out"
        args = ["--port", str(port), *([] if sandbox else ["--no-sandbox"])]
        with paycore_serve(args, env=env, output=output) as serve:
            if sandbox:
                assert serve.wait(timeout=30) != 0
                assert "error sandbox_finance_secret_mismatch:" in output.read_text()
            else:  # the finance system is not paycore's to vet: serve starts all the same
                wait_healthy(serve, f"http://127.0.0.1:{port}/healthz", output)
    finally:
        stop_receiver(stale)
