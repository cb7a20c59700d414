"""What the demo runs on: a sandbox bank, somewhere for callbacks to land, the merchants.

- The bank: the one answering at the default channel's URL (started by `paycore serve`),
  or one the demo starts and stops. Its failure mix is set for a realistic day and put
  back as it was at the end.
- Callbacks: a paycore server answering at PAYCORE_PUBLIC_URL gets them (it shares the
  database); otherwise the demo runs `paycore serve` on a free port while it runs.
- Merchants: three fixed ids, created once; new API keys on every run (a key is shown
  only when issued).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from paycore.channels.config import ChannelsConfig, build_channels, default_config
from paycore.channels.model import ChannelError, Operation
from paycore.demo.customers import MERCHANTS
from paycore.errors import Rejected
from paycore.merchants.model import MerchantStatus
from paycore.platform.config import Settings
from paycore.platform.lifeline import start_child, stop_child
from paycore.runtime import Runtime
from paycore.sandbox_bank import launcher
from paycore.sandbox_bank.config import BankConfig
from paycore.security.crypto import load_field_cipher
from paycore.security.model import Scope

JANITOR_SCHEDULE_S = (2, 5, 10)
"""Query back unanswered orders 2 s, 5 s, 10 s after the last try (production: minutes)."""
CHANNEL_TIMEOUT_S = 1.5
DEMO_FAULTS: dict[str, Any] = {
    "decline_rate": 0.03,  # the payer's fault: insufficient funds, wrong card, cancelled
    "channel_decline_rate": 0.01,  # the bank's fault: issuer unavailable, clearing failed
    "timeout_rate": 0.01,  # answered after the channel gave up: result unknown
    "timeout_delay_s": 2.5,
    "unknown_rate": 0.01,  # never notified: only the janitor's query finds the result
    "duplicate_rate": 0.02,
    "reorder_rate": 0.05,
    "reorder_delay_s": 0.3,
    "notify_delay_s": 0.05,
    "sync_rate": 0.3,
    "complete_min_s": 0.02,
    "complete_max_s": 0.4,
    "notify_retry_base_s": 0.2,
    "notify_retry_max_s": 2.0,
    "unavailable_rate": 0.0,
    "error_after_rate": 0.0,
    "invalid_request_rate": 0.0,
    "payout_return_rate": 0.0,
    "hang": False,
}
HEALTH_TIMEOUT_S = 0.5
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bank_data_dir(settings: Settings) -> Path:
    return Path(default_config(settings).channels[0].data_dir)


def check_running_bank(data_dir: Path, bank_url: str) -> None:
    """A bank already answering must have been started from our data dir (whose keys we
    sign with); checked before anything creates keys there."""
    if (
        launcher.is_answering(bank_url)
        and not (data_dir / BankConfig.MERCHANT_PRIVATE_KEY_FILE).exists()
    ):
        raise Rejected(
            "demo_bank_keys_missing",
            f"a sandbox bank answers at {bank_url} but its keys are not in {data_dir}: "
            "stop it, or set PAYCORE_DATA_DIR to the data dir it was started with",
        )


@contextmanager
def sandbox_bank(data_dir: Path, bank_url: str) -> Iterator[bool]:
    """A bank answering at `bank_url` with the demo's failure mix until the block ends.
    Yields whether the demo started it."""
    started = None
    if not launcher.is_answering(bank_url):
        started = launcher.start_bank(data_dir, port=_local_port(bank_url))
    try:
        with httpx.Client(base_url=bank_url, timeout=5.0) as admin:
            before = set_faults(admin, DEMO_FAULTS)
            try:
                yield started is not None
            finally:
                with contextlib.suppress(httpx.HTTPError):  # a bank that died has no mix
                    admin.put("/admin/faults", json=before)
    finally:
        if started is not None:
            launcher.stop_bank(started)


def set_faults(admin: httpx.Client, changes: dict[str, Any]) -> dict[str, Any]:
    """Set the bank's failure mix; returns the mix it had before."""
    before = admin.get("/admin/faults")
    answer = admin.put("/admin/faults", json=changes)
    if before.status_code != 200 or answer.status_code != 200:
        raise Rejected(
            "demo_bank_refused",
            f"{admin.base_url} did not take the failure mix ({answer.status_code}): "
            "is it a paycore sandbox bank?",
        )
    previous: dict[str, Any] = before.json()
    return previous


def _local_port(url: str) -> int:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
        raise Rejected(
            "demo_bank_not_local",
            f"nothing answers at {url}, and the demo starts a bank only on 127.0.0.1:<port>",
        )
    return parts.port


def callback_url(settings: Settings, *, use_running_server: bool) -> tuple[str, int | None]:
    """Where channels call back, and the port to serve the demo's own callbacks on (None
    when a paycore server already answers at settings.public_url)."""
    if use_running_server and _answers(f"{settings.public_url.rstrip('/')}/healthz"):
        return settings.public_url, None
    port = free_port()
    return f"http://127.0.0.1:{port}", port


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=HEALTH_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def callback_server(settings: Settings, *, port: int) -> Iterator[Callable[[], None]]:
    """`paycore serve` as a child process on the demo's database, without workers of its
    own (the demo runs the janitor on its short schedule), to take the bank's callbacks.
    Yields `wait_ready()`: start the server, start the bank, then wait, so the two
    start-ups overlap.

    A process of its own, not a thread: applying callbacks costs about as much CPU as
    sending the orders, and two processes use two cores (measured: the pay-ins take half
    as long as with the app served from a thread of the demo).
    """
    load_field_cipher(settings)  # the development key exists before the child reads it
    launcher.ensure_keys(bank_data_dir(settings))
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = start_child(  # it stops with the demo, even a killed one
            [sys.executable, "-m", "paycore.cli", "serve", "--port", str(port), "--no-sandbox"],
            env={**os.environ, **_server_env(settings, url)},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

        def wait_ready() -> None:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while not _answers(f"{url}/healthz"):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode("utf-8", "replace")[-1000:]
                    raise Rejected("demo_server_failed", f"paycore serve did not start: {tail}")
                time.sleep(0.1)

        try:
            yield wait_ready
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully
        try:
            process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    stop_child(process)  # lets go of its lifeline


def _server_env(settings: Settings, public_url: str) -> dict[str, str]:
    return {
        "PAYCORE_DATABASE_URL": settings.database_url,
        "PAYCORE_DATA_DIR": settings.data_dir,
        "PAYCORE_FIELD_KEYS": settings.field_keys,
        "PAYCORE_FIELD_KEY_ID": settings.field_key_id,
        "PAYCORE_CHANNELS_FILE": "",  # the default sandbox channel, as the demo uses
        "PAYCORE_PUBLIC_URL": public_url,
        "PAYCORE_WORKERS": "0",
    }


def build_runtime(settings: Settings, *, bank_url: str, public_url: str) -> Runtime:
    """The default sandbox channel (at `bank_url`) and a janitor on the demo's schedule."""
    config = default_config(settings)
    channel = dataclasses.replace(
        config.channels[0], base_url=bank_url, timeout_s=CHANNEL_TIMEOUT_S
    )
    channels = build_channels(ChannelsConfig((channel,), config.routes))
    runtime = Runtime.build(
        dataclasses.replace(settings, public_url=public_url),
        channels=channels,
        query_schedule_s=JANITOR_SCHEDULE_S,
    )
    _check_bank_takes_our_keys(runtime, channel.name, bank_url)
    return runtime


def _check_bank_takes_our_keys(runtime: Runtime, channel: str, bank_url: str) -> None:
    """One signed query: a bank started from another data dir refuses our signature."""
    try:
        runtime.channels.registry.get(channel).query(Operation.PAYIN, "demo_preflight")
    except ChannelError as error:
        runtime.close()
        raise Rejected(
            "demo_bank_unusable", f"the sandbox bank at {bank_url} refused us: {error.detail}"
        ) from None


def ensure_merchants(runtime: Runtime) -> None:
    """The demo's merchants, created on the first run and made active again if suspended."""
    for merchant in MERCHANTS:
        found = runtime.merchants.get(merchant.id)
        if found is None:
            try:
                runtime.merchants.create(
                    name=merchant.name, fee_bps=merchant.fee_bps, merchant_id=merchant.id
                )
            except Rejected as error:  # another demo created it a moment ago
                if error.code != "merchant_exists":
                    raise
        elif found.status is not MerchantStatus.ACTIVE:
            runtime.merchants.set_status(merchant.id, MerchantStatus.ACTIVE)


def issue_keys(runtime: Runtime) -> dict[str, str]:
    """One new key per merchant and one admin key, in clear (shown once, never stored)."""
    keys = {
        merchant.id: runtime.api_keys.issue(merchant_id=merchant.id, label="demo")[1]
        for merchant in MERCHANTS
    }
    _key, admin = runtime.api_keys.issue(merchant_id=None, scopes=[Scope.ADMIN], label="demo")
    keys["admin"] = admin
    return keys
