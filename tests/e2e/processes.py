"""Run `paycore serve` as users do, as a subprocess, and watch what it leaves behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def port_is_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def process_is_gone(pid: int) -> bool:
    """Gone or a zombie (a zombie runs nothing and holds no port; its reaper may be slow)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return any(line.split()[1:2] == ["Z"] for line in status.splitlines() if line[:6] == "State:")


def wait_until(condition: object, *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@contextmanager
def paycore_serve(
    args: Sequence[str], *, env: Mapping[str, str], output: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`paycore serve <args>` with stdout and stderr in `output`; stopped with SIGINT at
    the end if still running. Does not wait for it to be healthy (see `wait_healthy`)."""
    command = [sys.executable, "-c", "from paycore.cli import main; main()", "serve", *args]
    # The sandbox finance receiver `serve` starts: a port of this test's own, never the
    # default one another test's (or another checkout's) receiver may hold.
    finance = {"PAYCORE_FINANCE_URL": f"http://127.0.0.1:{free_port()}"}
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command, env={**os.environ, **finance, **env}, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(process: subprocess.Popen[bytes], url: str, output: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{url} never answered: {output.read_text()[-3000:]}")
        time.sleep(0.1)
