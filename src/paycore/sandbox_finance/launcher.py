"""Start the sandbox finance receiver beside `paycore serve` (or a test) as a child process
that stops with its parent however the parent ends (`paycore.platform.lifeline`).

A receiver already answering is used only if it accepts a request signed with the secret
in our data dir (`secret_mismatch`): one left running by another checkout has another
secret, and every push to it would be refused.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from paycore.errors import Rejected
from paycore.platform.lifeline import start_child, stop_child
from paycore.sandbox_finance.keys import prepare_secret, read_secret

START_TIMEOUT_S = 20.0
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
KEY_CHECK_DATE = date(2000, 1, 1)
"""Listed (read-only) to see whether a running receiver accepts our secret."""


def is_answering(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_secret(data_dir: Path) -> None:
    """The push secret, made now if this is the first start (before any worker reads it)."""
    prepare_secret(data_dir)


def secret_mismatch(base_url: str, data_dir: Path) -> str | None:
    """None if the receiver at `base_url` accepts our signature; otherwise why not."""
    from paycore.finance.receiver_client import FinanceReceiverClient, ReceiverError

    client = FinanceReceiverClient(base_url, secret=read_secret(data_dir), timeout_s=2.0)
    try:
        with client:
            client.booked(KEY_CHECK_DATE)
    except ReceiverError as exc:
        return str(exc)
    return None


def stale_receiver_advice(base_url: str, data_dir: Path, reason: str) -> str:
    """What to tell someone whose port is taken by a receiver with another secret."""
    port = urlsplit(base_url).port
    return (
        f"a sandbox finance receiver already answers on {base_url}, but not with the secret "
        f"in {data_dir} ({reason}).\nStop it (`lsof -i tcp:{port}`, then kill that process), "
        f"or use another port: PAYCORE_FINANCE_URL=http://127.0.0.1:<port>."
    )


def start_receiver(
    data_dir: Path, *, port: int, faults_json: str | None = None
) -> subprocess.Popen[bytes]:
    """Run the receiver (`python -m paycore.sandbox_finance`) as a child that stops when
    this process ends, and wait until it answers."""
    ensure_secret(data_dir)
    command = [sys.executable, "-m", "paycore.sandbox_finance", "--port", str(port),
               "--data-dir", str(data_dir)]  # fmt: skip
    if faults_json:
        command += ["--faults", faults_json]
    process = start_child(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not is_answering(f"http://127.0.0.1:{port}"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_child(process, timeout_s=1.0)
            raise RuntimeError(
                f"the sandbox finance receiver did not start on port {port}: is something "
                f"else listening there (`lsof -i tcp:{port}`)? Set PAYCORE_FINANCE_URL to "
                "another port"
            )
        time.sleep(0.1)
    return process


def stop_receiver(process: subprocess.Popen[bytes]) -> None:
    stop_child(process)


def prepare_for_serve(
    base_url: str, data_dir: Path, *, start: bool
) -> subprocess.Popen[bytes] | None:
    """What `paycore serve` does before its workers start, as for the sandbox bank: make
    the secret; use a receiver answering at `base_url` if it knows our secret, refuse it
    otherwise (Rejected `sandbox_finance_secret_mismatch`); with none answering, start one
    as a child when `start` and the URL is on this machine (Rejected
    `sandbox_finance_not_started` if it does not come up). Returns the child, if any."""
    ensure_secret(data_dir)
    if is_answering(base_url):
        mismatch = secret_mismatch(base_url, data_dir)
        if mismatch is not None:
            advice = stale_receiver_advice(base_url, data_dir, mismatch)
            raise Rejected("sandbox_finance_secret_mismatch", advice)
        return None
    parts = urlsplit(base_url)
    if not start or parts.hostname not in LOCAL_HOSTS:
        return None  # pushes wait, and the finance-push-behind detector says so
    try:
        return start_receiver(data_dir, port=parts.port or 80)
    except RuntimeError as exc:
        raise Rejected("sandbox_finance_not_started", str(exc)) from exc
