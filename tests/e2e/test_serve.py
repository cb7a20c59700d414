"""`paycore serve` as users run it: a real server process, real HTTP, several workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SERVER_START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    command = [
        sys.executable, "-c", "from paycore.cli import main; main()",
        "serve", "--port", str(port), "--workers", "2", "--no-sandbox",
    ]  # fmt: skip
    # Its own data dir: both workers share the development field key generated there.
    env = dict(os.environ, PAYCORE_DATABASE_URL=database_url, PAYCORE_DATA_DIR=str(tmp_path))
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"paycore serve exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("paycore serve did not become healthy")
        yield base_url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def test_two_server_workers_take_concurrent_transfers_and_the_ledger_still_balances(
    server: str, admin_key: str
) -> None:
    auth = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=server, timeout=30, headers=auth) as http:
        for account_id in ("acct_source", "acct_sink"):
            body = {"id": account_id, "currency": "CNY"}
            assert http.post("/v1/accounts", json=body).status_code == 201
    results: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=server, timeout=30, headers=auth) as http:
            for k in range(25):
                transfer = {
                    "id": f"tr_{n}_{k}", "debit_account_id": "acct_source",
                    "credit_account_id": "acct_sink", "amount": 3, "currency": "CNY",
                }  # fmt: skip
                response = http.post("/v1/transfers", json={"transfers": [transfer]})
                with lock:
                    results.append(response.json()["results"][0]["result"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    with httpx.Client(base_url=server, timeout=30, headers=auth) as http:
        sink = http.get("/v1/accounts/acct_sink").json()
        check = http.get("/v1/ledger/check").json()
        replay = http.post(
            "/v1/transfers",
            json={"transfers": [{"id": "tr_0_0", "debit_account_id": "acct_source",
                                 "credit_account_id": "acct_sink", "amount": 3,
                                 "currency": "CNY"}]},
        ).json()  # fmt: skip

    assert results == ["created"] * 200
    assert sink["credits_posted"] == 600
    assert check == {"ok": True, "accounts_checked": 2, "problems": []}
    assert replay["results"][0]["result"] == "exists"
