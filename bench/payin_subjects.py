"""What a pay-in costs in CPU by who pays: a payer new to the process (and the database),
the same payer again, and a payer the database knows but this process has forgotten (its
subject key cache expired, as after 10 s, a restart or on another server).

In-process: `Payments.create_payin` through a channel that answers success at once, on
SQLite in /dev/shm (and PostgreSQL with --pg-url), the cipher bound to the envelope (file
KEK) and the blind index on, so each pay-in seals its payer under a data-subject key.
CPU per pay-in is time.process_time() over the run divided by the pay-ins (one thread,
no server, no HTTP). A run with --with-text gives each pay-in a description and metadata
(sealed since migration 0029): the difference is what that sealing adds.

Before/after in one run: measure another checkout with PYTHONPATH, e.g.
    git worktree add /tmp/pb_old HEAD
    PYTHONPATH=/tmp/pb_old/src python bench/payin_subjects.py --label before
    python bench/payin_subjects.py --label after
    git worktree remove /tmp/pb_old
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import paycore
from paycore.channels.model import ChannelResult, ChannelStatus, Operation, Payer
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Route, RouteCandidate, Router
from paycore.clock import ManualClock
from paycore.platform.config import Settings
from paycore.platform.db import make_engine, upgrade
from paycore.runtime import Channels, Runtime
from paycore.security.blind import BlindIndexer
from paycore.security.crypto import FieldCipher
from paycore.security.keys import KEK_FILE, FileKeyProvider

console = Console(width=None if sys.stdout.isatty() else 140)
WARMUP = 10


class AtOnceBank:
    """A channel that answers every pay-in with success, synchronously."""

    name = "atonce"

    def pay_in(self, request: Any) -> ChannelResult:
        return ChannelResult(ChannelStatus.SUCCEEDED, channel_txn_id=f"t_{request.reference}")

    def query(self, operation: Operation, reference: str) -> ChannelResult:
        return ChannelResult(ChannelStatus.NOT_FOUND)

    def close(self, reference: str) -> ChannelResult:
        return ChannelResult(ChannelStatus.CLOSED)


def id_number(n: int) -> str:
    """A well-formed 18-character resident ID number (valid check digit), distinct per n."""
    body = f"110101{19800101 + n % 9000:08d}{n % 1000:03d}"[:17]
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def card_number(n: int) -> str:
    return f"6222{n:012d}"


def build(url: str, workdir: Path) -> Runtime:
    clock = ManualClock(datetime.now(UTC))
    registry = ChannelRegistry(clock=clock)
    registry.add(AtOnceBank())  # type: ignore[arg-type]
    route = Route(product="*", candidates=[RouteCandidate("atonce", priority=1)])
    provider = FileKeyProvider(workdir / KEK_FILE)
    return Runtime.build(
        Settings(database_url=url, expiry_interval_s=3600.0, data_dir=str(workdir)),
        engine=make_engine(url),
        clock=clock,
        channels=Channels(registry, Router(registry, [route])),
        cipher=FieldCipher({"bench": b"\x03" * 32}, "bench", provider=provider),
        blind_indexer=BlindIndexer({"bench": b"\x04" * 32}, "bench"),
        query_schedule_s=(60, 300),
    )


def run(rt: Runtime, merchant_id: str, payer_of: Callable[[int], int], count: int, *,
        text: bool, forget: bool, start: int) -> float:  # fmt: skip
    """CPU seconds per pay-in over `count` pay-ins (after WARMUP unmeasured ones)."""
    from paycore.payments.service import PayinCommand

    def one(i: int) -> None:
        n = payer_of(start + i)
        if forget:  # the process forgets the payer's key, as its cache expiring would
            ring = rt.cipher.keyring
            ring._subjects.clear()
            ring._salts.clear()
        cmd = PayinCommand(
            merchant_id=merchant_id,
            product="bench",
            amount=1000 + i,
            currency="CNY",
            payer=Payer(card_number=card_number(n), name="Zhang San", id_number=id_number(n)),
            description="order 1234 for Zhang San, two boxes" if text else "",
            metadata={"cart": "c-77", "buyer": "Zhang San"} if text else {},
        )
        answer = rt.payments.create_payin(cmd, idempotency_key=f"k{start + i}")
        if answer.body["status"] != "succeeded":
            raise SystemExit(f"pay-in {i}: {answer.body['status']}")

    for i in range(WARMUP):
        one(i)
    began = time.process_time()
    for i in range(WARMUP, WARMUP + count):
        one(i)
    return (time.process_time() - began) / count


SCENARIOS: Mapping[str, tuple[Callable[[int], int], bool]] = {
    # name: (payer of the i-th pay-in, forget the key cache before each)
    "new payer each time": (lambda i: 1_000_000 + i, False),
    "one payer again and again": (lambda i: 7, False),
    "known payer, forgotten by the process": (lambda i: 7, True),
}


def measure(url: str, count: int, text: bool, rounds: int) -> dict[str, float]:
    """The scenarios in turns of count/rounds pay-ins each, so that a load that comes and
    goes on the machine falls on all of them alike; per scenario, the median of its turns."""
    workdir = Path(tempfile.mkdtemp(prefix="payin-subjects-", dir="/dev/shm"))
    try:
        upgrade(url)
        rt = build(url, workdir)
        try:
            merchant, _secret = rt.merchants.create(name="Bench subjects", fee_bps=60)
            turns: dict[str, list[float]] = {name: [] for name in SCENARIOS}
            per_turn = max(1, count // rounds)
            for turn in range(rounds):
                for index, (name, (payer_of, forget)) in enumerate(SCENARIOS.items()):
                    start = (index + 1) * 10_000_000 + turn * 100_000
                    turns[name].append(run(rt, merchant.id, payer_of, per_turn, text=text,
                                           forget=forget, start=start))  # fmt: skip
            return {name: statistics.median(found) for name, found in turns.items()}
        finally:
            rt.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="measured pay-ins a scenario")
    parser.add_argument("--rounds", type=int, default=6, help="turns the pay-ins are cut in")
    parser.add_argument("--pg-url", default="", help="a scratch PostgreSQL database (emptied)")
    parser.add_argument("--label", default="", help="names this checkout in the table")
    parser.add_argument("--with-text", action="store_true", help="description and metadata")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    label = args.label or str(Path(paycore.__file__).parent.parent.parent)
    results: dict[str, dict[str, float]] = {}
    sqlite_path = Path(tempfile.mkdtemp(prefix="payin-subjects-db-", dir="/dev/shm"))
    try:
        results["sqlite"] = measure(
            f"sqlite:///{sqlite_path}/bench.db", args.count, args.with_text, args.rounds
        )
    finally:
        shutil.rmtree(sqlite_path, ignore_errors=True)
    if args.pg_url:
        results["postgresql"] = measure(args.pg_url, args.count, args.with_text, args.rounds)
    table = Table(title=f"CPU per pay-in (ms), median of {args.rounds} turns, {args.count}"
                  f" pay-ins a row — {label}"
                  + (", with description + metadata" if args.with_text else ""))  # fmt: skip
    table.add_column("scenario")
    for backend in results:
        table.add_column(backend, justify="right")
    for name in SCENARIOS:
        table.add_row(name, *(f"{results[b][name] * 1000:.3f}" for b in results))
    console.print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"label": label, "text": args.with_text,
                                               "ms": results}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PAYCORE_LOG_LEVEL", "WARNING")
    raise SystemExit(main())
