"""The push relay against the sandbox finance receiver as a real process (started as
`serve` would: a child with a lifeline, its own port and data dir), over real HTTP."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.finance.push import PUSH_BACKOFF_MAX_S, FinancePush
from paycore.finance.receiver_client import FinanceReceiverClient
from paycore.sandbox_finance import launcher
from paycore.sandbox_finance.keys import read_secret
from tests.finance.conftest_push import free_port, insert_pending, voucher_document


class Process:
    def __init__(self, data_dir: Path, process: subprocess.Popen[bytes], url: str) -> None:
        self.data_dir, self.process, self.url = data_dir, process, url

    def faults(self, **changes: Any) -> None:
        httpx.put(f"{self.url}/admin/faults", json=changes, timeout=2).raise_for_status()

    def receipts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = httpx.get(f"{self.url}/admin/receipts").json()
        return counts

    def client(self, *, timeout_s: float = 2.0) -> FinanceReceiverClient:
        return FinanceReceiverClient(
            self.url, secret=read_secret(self.data_dir), timeout_s=timeout_s
        )


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    data_dir = tmp_path_factory.mktemp("sandbox-finance")
    port = free_port()
    process = launcher.start_receiver(data_dir, port=port, faults_json='{"slow_ms": 600}')
    try:
        yield Process(data_dir, process, f"http://127.0.0.1:{port}")
    finally:
        launcher.stop_receiver(process)


def pending(engine: Engine, clock: ManualClock, day: date, count: int) -> list[dict[str, Any]]:
    documents = [voucher_document(i, day=day) for i in range(count)]
    insert_pending(engine, documents, at=clock.now())
    return documents


def test_a_slow_receiver_times_the_push_out_and_the_retry_finds_it_booked_once(
    receiver: Process, engine: Engine, clock: ManualClock
) -> None:
    day = date(2026, 2, 1)
    [document] = pending(engine, clock, day, 1)
    receiver.faults(slow_rate=1)
    with receiver.client(timeout_s=0.2) as client:
        first = FinancePush(engine, client, clock=clock).push_due()
        assert (first.retried, first.acked) == (1, 0)
        receiver.faults(slow_rate=0)
        clock.advance(PUSH_BACKOFF_MAX_S)
        again = FinancePush(engine, client, clock=clock).push_due()
        assert again.duplicates == 1
        assert client.booked(day) == {document["id"]: document["body_hash"]}
    assert receiver.receipts()[document["id"]] == {"booked": 1, "duplicate": 1}


def test_a_receiver_down_then_up_over_http_books_everything_once(
    receiver: Process, engine: Engine, clock: ManualClock
) -> None:
    day = date(2026, 2, 2)
    documents = pending(engine, clock, day, 5)
    receiver.faults(down_rate=1)
    with receiver.client() as client:
        relay = FinancePush(engine, client, clock=clock)
        assert relay.push_all().retried == 1
        receiver.faults(down_rate=0, double_ack_rate=0.5)
        clock.advance(PUSH_BACKOFF_MAX_S)
        report = relay.push_all()
        assert report.acked == len(documents)
        assert client.booked(day) == {d["id"]: d["body_hash"] for d in documents}
    receiver.faults(double_ack_rate=0)
    assert all(receiver.receipts()[d["id"]].get("booked") == 1 for d in documents)


def test_serve_uses_a_receiver_with_our_secret_and_refuses_one_without(
    receiver: Process, tmp_path: Path
) -> None:
    assert launcher.prepare_for_serve(receiver.url, receiver.data_dir, start=True) is None
    with pytest.raises(Rejected) as refused:
        launcher.prepare_for_serve(receiver.url, tmp_path, start=True)
    assert refused.value.code == "sandbox_finance_secret_mismatch"
    assert "bad_signature" in refused.value.detail


def test_a_receiver_process_stopped_and_started_again_gets_every_voucher_once(
    engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert launcher.prepare_for_serve(url, tmp_path, start=False) is None  # nothing started
    day = date(2026, 2, 3)
    documents = pending(engine, clock, day, 3)
    with FinanceReceiverClient(url, secret=read_secret(tmp_path)) as client:
        relay = FinancePush(engine, client, clock=clock)
        refused = relay.push_all()
        assert (refused.retried, refused.released) == (1, 2)
        assert refused.errors[0].endswith("ConnectError: [Errno 111] Connection refused")
        process = launcher.prepare_for_serve(url, tmp_path, start=True)
        assert process is not None
        try:
            clock.advance(PUSH_BACKOFF_MAX_S)
            assert relay.push_all().acked == len(documents)
            assert client.booked(day) == {d["id"]: d["body_hash"] for d in documents}
        finally:
            launcher.stop_receiver(process)
