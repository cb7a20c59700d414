"""Start a sandbox bank beside `paycore serve` so a new machine can pay in at once.

Used only when the channels are the default (no PAYCORE_CHANNELS_FILE) and nothing
answers on the sandbox's port: then the bank runs as a child process with its own data
dir under ./var/, and stops with the server. Its keys are made before any worker starts,
so server workers never race to create them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from paycore.sandbox_bank.config import BankConfig
from paycore.sandbox_bank.keys import prepare_data_dir

START_TIMEOUT_S = 20.0


def is_answering(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_keys(data_dir: Path) -> None:
    """The bank's and the merchant's key pairs, made now if this is the first start."""
    prepare_data_dir(BankConfig(data_dir=data_dir))


def start_bank(data_dir: Path, *, port: int) -> subprocess.Popen[bytes]:
    """Run `paycore sandbox-bank` as a child process and wait until it answers."""
    ensure_keys(data_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "paycore.cli", "sandbox-bank", "--port", str(port),
         "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while not is_answering(f"http://127.0.0.1:{port}"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the sandbox bank did not start on port {port}")
        time.sleep(0.1)
    return process
