"""Start a sandbox bank beside `paycore serve` so a new machine can pay in at once.

Used only when the channels are the default (no PAYCORE_CHANNELS_FILE) and nothing
answers on the sandbox's port: then the bank runs as a child process with its own data
dir under ./var/, and stops with the server however the server ends (a lifeline pipe, see
`paycore.platform.lifeline`). Its keys are made before any worker starts, so server
workers never race to create them.

A bank that already answers is used only if it answers a signed request with the keys in
our data dir (`keys_mismatch`): a bank left running by another checkout or an earlier run
has other keys, and every payment through it would fail as unverifiable.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from paycore.platform.lifeline import start_child, stop_child
from paycore.sandbox_bank.config import BankConfig
from paycore.sandbox_bank.keys import prepare_data_dir

START_TIMEOUT_S = 20.0
KEY_CHECK_REFERENCE = "paycore-key-check"
"""Queried (read-only) to see whether a running bank answers with our keys."""


def is_answering(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_keys(data_dir: Path) -> None:
    """The bank's and the merchant's key pairs, made now if this is the first start."""
    prepare_data_dir(BankConfig(data_dir=data_dir))


def keys_mismatch(base_url: str, data_dir: Path, *, merchant_id: str = "paycore") -> str | None:
    """None if the bank at `base_url` accepts our signature and its answer verifies with
    its public key in `data_dir`; otherwise why not."""
    from paycore.channels.model import ChannelError, Operation
    from paycore.channels.sandbox import load_sandbox_channel

    channel = load_sandbox_channel(
        "sandbox", base_url, data_dir, merchant_id=merchant_id, timeout_s=2.0
    )
    try:
        with channel:
            channel.query(Operation.PAYIN, KEY_CHECK_REFERENCE)
    except ChannelError as exc:
        return exc.detail
    return None


def stale_bank_advice(base_url: str, data_dir: Path, reason: str) -> str:
    """What to tell someone whose port is taken by a bank with other keys."""
    port = urlsplit(base_url).port
    return (
        f"a sandbox bank already answers on {base_url}, but not with the keys in {data_dir} "
        f"({reason}).\nIt was probably left running by another checkout or an earlier run. "
        f"Either stop it (find it with `lsof -i tcp:{port}` or `fuser {port}/tcp`, then "
        f"kill that process), or run against another port: PAYCORE_SANDBOX_URL="
        f"http://127.0.0.1:<port>. paycore serve does not run against it."
    )


def start_bank(data_dir: Path, *, port: int) -> subprocess.Popen[bytes]:
    """Run `paycore sandbox-bank` as a child process that stops when this process ends,
    and wait until it answers."""
    ensure_keys(data_dir)
    process = start_child(
        [sys.executable, "-m", "paycore.cli", "sandbox-bank", "--port", str(port),
         "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while not is_answering(f"http://127.0.0.1:{port}"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_child(process, timeout_s=1.0)
            raise RuntimeError(
                f"the sandbox bank did not start on port {port}: is something else listening "
                f"there (`lsof -i tcp:{port}`)? Stop it, or set PAYCORE_SANDBOX_URL to another port"
            )
        time.sleep(0.1)
    return process


def stop_bank(process: subprocess.Popen[bytes]) -> None:
    stop_child(process)
