"""Several `serve` workers run the daily close's tick at the same moment, so several of them
collect the same host-to-host inbox at once. Each file must be applied and moved once: not
lost, not rejected because another worker moved it first, and no worker's tick may fail."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paycore.channels.h2h import H2hBankChannel
from paycore.clock import ManualClock
from paycore.payments.model import OrderStatus
from paycore.platform.config import Settings
from paycore.recon.h2h_service import H2hFiles, h2h_files
from paycore.recon.inbox import H2hInbox, InboxItem, inbound_dir
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.conftest import postgres_only
from tests.custody.test_concurrency import race
from tests.recon.test_h2h import (  # noqa: F401 - fixtures
    bank,
    files,
    merchant,
    runtime,
    status_of,
    wallet,
)
from tests.recon.test_inbox import drop, paid_payouts

WORKERS = 4


class PausedFiles:
    """The real h2h service, but the first status report waits inside its apply until the
    test lets it go: a worker caught between reading a file and moving it."""

    def __init__(self, real: H2hFiles) -> None:
        self._real = real
        self.inside = threading.Event()
        self.go_on = threading.Event()

    def apply_status_report(self, path: Path) -> Any:
        self.inside.set()
        self.go_on.wait(timeout=10)
        return self._real.apply_status_report(path)


def _inbox(runtime: Runtime, files: Any) -> H2hInbox:  # noqa: F811
    return H2hInbox(recon=runtime.recon, channels=runtime.channels.registry, files=files)


def test_a_second_worker_collecting_while_the_first_applies_a_file_neither_fails_nor_rejects_it(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    tmp_path: Path,
) -> None:
    orders, report = paid_payouts(runtime, merchant, files, bank, tmp_path, (30_000, 5_000))
    drop(bank, "STS-1.xml", report)
    paused = PausedFiles(files)
    first_worker, second_worker = _inbox(runtime, paused), _inbox(runtime, files)
    first: list[InboxItem] = []
    failures: list[BaseException] = []

    def collect_first() -> None:
        try:
            first.extend(first_worker.collect(bank))
        except BaseException as error:  # returned to the test
            failures.append(error)

    thread = threading.Thread(target=collect_first)
    thread.start()
    assert paused.inside.wait(timeout=10)
    second = second_worker.collect(bank)  # while the first worker is inside its apply
    paused.go_on.set()
    thread.join(timeout=30)

    inbound = inbound_dir(bank)
    processed = sorted(p.name for p in (inbound / "processed").iterdir())
    rejected = (inbound / "rejected").exists() and list((inbound / "rejected").iterdir())
    assert failures == []
    assert [(i.name, i.moved_to) for i in first + second] == [("STS-1.xml", "processed")]
    assert processed == ["STS-1.xml.enc"] and not rejected  # kept sealed (security/files.py)
    assert [status_of(runtime, o) for o in orders] == [OrderStatus.SUCCEEDED] * 2
    assert wallet(runtime, merchant) == (65_000, 65_000)


@pytest.fixture
def workers(
    database_url: str,
    runtime: Runtime,  # noqa: F811
    clock: ManualClock,
    field_cipher: FieldCipher,
    tmp_path: Path,
) -> Iterator[list[Runtime]]:
    """Runtimes of their own (own engine), like worker processes, sharing the channels."""
    built = [
        Runtime.build(
            Settings(
                database_url=database_url, expiry_interval_s=1.0, data_dir=str(tmp_path / "var")
            ),
            clock=clock,
            channels=runtime.channels,
            cipher=field_cipher,
        )
        for _ in range(WORKERS)
    ]
    yield built
    for worker in built:
        worker.close()


@postgres_only
def test_workers_collecting_the_same_inbox_at_once_apply_and_move_every_file_once(
    runtime: Runtime,  # noqa: F811
    merchant: str,  # noqa: F811
    files: H2hFiles,  # noqa: F811
    bank: H2hBankChannel,  # noqa: F811
    workers: list[Runtime],
    tmp_path: Path,
) -> None:
    names, all_orders = [], []
    for n in range(6):
        orders, report = paid_payouts(runtime, merchant, files, bank, tmp_path, (1_000 + n,))
        names.append(drop(bank, f"STS-{n}.xml", report).name)
        all_orders += orders
    collected: list[InboxItem] = []

    def collect(worker: Runtime) -> None:
        collected.extend(_inbox(worker, h2h_files(worker)).collect(bank))

    errors = race(collect, workers)

    inbound = inbound_dir(bank)
    assert errors == []
    assert sorted(i.name for i in collected if i.moved_to == "processed") == sorted(names)
    kept = sorted(p.name for p in (inbound / "processed").iterdir())
    assert kept == sorted(f"{name}.enc" for name in names)  # kept sealed (security/files.py)
    assert not (inbound / "rejected").exists() or list((inbound / "rejected").iterdir()) == []
    assert [status_of(runtime, o) for o in all_orders] == [OrderStatus.SUCCEEDED] * 6
