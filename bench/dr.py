"""Disaster recovery at scale: 1,000,000 transfers, backed up, restored, checked.

For each backend: a fresh database with 10,000 accounts and N transfers between them (a
tenth of them holds, posted in part or voided), made by the ledger's own rules
(`paycore.ledger.posting.Posting`, the code the writer runs) and written in groups with
the writer's own SQL (`store_writer.write_posting`: binary COPY on PostgreSQL), so the
ledger check passes on the result. Then `paycore dr backup` and `paycore dr restore-check`
through the service, and a table of the times and the CPU they took. Backups are sealed
(the default, a random field key for the run): "seal s" is the time sealing added to the
backup, and the restore includes opening the sealed files; `--no-encrypt` for the clear
backup of before, to compare.

PostgreSQL runs on a private cluster made here (initdb on a free port, removed at the end;
as root its programs run as the `postgres` OS user): the shared server refuses replication
connections. The restored copy runs with the cluster's file settings (fsync on); the source
runs with fsync off, which only speeds up making the data.

    .venv/bin/python bench/dr.py                      # both backends, 1,000,000 transfers
    .venv/bin/python bench/dr.py --backends postgres --transfers 100000 [--no-encrypt]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from paycore.clock import SystemClock
from paycore.dr import pg
from paycore.dr.service import DisasterRecovery
from paycore.ledger import store_writer
from paycore.ledger.model import AccountState, AccountStatus, TransferFlags
from paycore.ledger.model import TransferRequest as Tr
from paycore.ledger.posting import Posting
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import make_engine, upgrade
from paycore.security.crypto import FieldCipher

CCY = "CNY"
ACCOUNTS = 10_000
GROUP_TRANSFERS = 10_000
"""Transfers per written group: large enough for COPY to pay, small enough to stay flat."""
HOLD_SHARE = 0.10
START = datetime(2026, 1, 1, tzinfo=UTC)
console = Console(width=max(Console().width, 150))


@dataclass
class Row:
    backend: str
    transfers: int = 0
    entries: int = 0
    make_s: float = 0.0
    backup_s: float = 0.0
    restore_s: float = 0.0
    check_s: float = 0.0
    cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    size_mb: float = 0.0
    seal_s: float = 0.0
    sealed_mb: float = 0.0
    verdict: str = ""


def make_journal(url: str, transfers: int, seed: int) -> tuple[int, int]:
    """Accounts and `transfers` transfers by the ledger's rules; (transfers, entries)."""
    engine = make_engine(url, pool_size=2)
    ledger = Ledger(engine)
    ids = [f"acct_b{n:05d}" for n in range(ACCOUNTS)]
    for k in range(0, ACCOUNTS, 1000):
        ledger.create_accounts([AccountRequest(CCY, id=i) for i in ids[k : k + 1000]])
    ledger.close()
    states = {
        i: AccountState(id=i, currency=CCY, flags=0, status=AccountStatus.ACTIVE) for i in ids
    }
    rng = random.Random(seed)
    made = entries = 0
    with console.status("making the journal") as status:
        while made < transfers:
            posting = Posting(states, {}, {}, START + timedelta(seconds=made / 50))
            for request in _group(rng, ids, made, min(GROUP_TRANSFERS, transfers - made)):
                if posting.apply(request) != ["created"] * len(request):
                    raise SystemExit(f"the ledger refused {request[0].id}")
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                store_writer.write_posting(conn, posting)
            made += len(posting.created)
            entries += len(posting.entries)
            status.update(f"making the journal: {made:,} transfers")
    engine.dispose()
    return made, entries


def _group(rng: random.Random, ids: list[str], first: int, size: int) -> Iterator[list[Tr]]:
    """Plain transfers, and holds each followed by its post (in part) or void."""
    n = first
    while n < first + size:
        debit, credit = rng.sample(ids, 2)
        amount = rng.randint(1, 500_000)
        if rng.random() >= HOLD_SHARE or n + 2 > first + size:
            yield [Tr(f"tr_b{n:08d}", debit, credit, amount, CCY)]
            n += 1
            continue
        hold = Tr(f"tr_b{n:08d}", debit, credit, amount, CCY, flags=TransferFlags.PENDING)
        if rng.random() < 0.7:
            end = Tr(f"tr_b{n + 1:08d}", pending_id=hold.id, amount=max(1, amount * 3 // 4),
                     flags=TransferFlags.POST_PENDING)  # fmt: skip
        else:
            end = Tr(f"tr_b{n + 1:08d}", pending_id=hold.id, flags=TransferFlags.VOID_PENDING)
        yield [hold]
        yield [end]
        n += 2


def measure(row: Row, url: str, work: Path, transfers: int, seed: int, *, encrypt: bool) -> Row:
    began = time.monotonic()
    row.transfers, row.entries = make_journal(url, transfers, seed)
    row.make_s = time.monotonic() - began
    cipher = FieldCipher({"bench": secrets.token_bytes(32)}, "bench")
    dr = DisasterRecovery(source_url=url, clock=SystemClock(), progress=console.log, cipher=cipher)
    began = time.monotonic()
    manifest = dr.backup(work / "backup", encrypt=encrypt)
    row.backup_s = time.monotonic() - began
    if manifest.sealed is not None:
        row.seal_s, row.sealed_mb = manifest.sealed.seconds, manifest.sealed.clear_bytes / 1e6
    row.size_mb = sum(f.stat().st_size for f in (work / "backup").rglob("*") if f.is_file()) / 1e6
    report = dr.restore_check(work / "backup")
    row.restore_s, row.check_s = report.restore_s, report.check_s
    row.cpu_s, row.server_cpu_s = report.cpu_s, report.server_cpu_s
    row.verdict = "ok" if report.ok else "MISMATCH: " + "; ".join(report.mismatches[:3])
    for step in report.steps:
        console.log(f"{step.name}: {step.seconds:.2f} s, {step.rows:,} rows, ok={step.ok}")
    return row


def run_sqlite(work: Path, transfers: int, seed: int, *, encrypt: bool) -> Row:
    path = work / "source.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return measure(Row("sqlite"), url, work, transfers, seed, encrypt=encrypt)


@contextlib.contextmanager
def private_primary(work: Path) -> Iterator[str]:
    """initdb and start a primary of our own; stopped however the run ends."""
    root = Path(tempfile.mkdtemp(prefix="paycore-bench-dr-"))
    data, port = root / "data", pg.free_port()
    as_server = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_server:
        shutil.chown(root, "postgres", "postgres")
    tools = pg.bin_dir()

    def run(*argv: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        subprocess.run([*as_server, *argv], check=True, env=env, cwd=tempfile.gettempdir(),
                       stdout=subprocess.DEVNULL)  # fmt: skip

    run(str(tools / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
        "--no-locale", "--no-sync")  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_wal_size=4GB"
    run(
        str(tools / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(root / "log"),
        "-o",
        options,
        "-w",
        "start",
    )
    try:
        run(str(tools / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
            "-c", "CREATE DATABASE paycore")  # fmt: skip
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/paycore"
    finally:
        run(str(tools / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def run_postgres(work: Path, transfers: int, seed: int, *, encrypt: bool) -> Row:
    with private_primary(work) as url:
        upgrade(url)
        return measure(Row("postgres"), url, work, transfers, seed, encrypt=encrypt)


def print_table(rows: list[Row]) -> None:
    table = Table(title="paycore dr: backup and restore-check")
    for name in ("backend", "transfers", "entries", "make s", "backup s", "seal s",
                 "seal MB/s", "backup MB", "restore s", "check s", "CPU s (here)",
                 "CPU s (server)", "verdict"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("backend", "verdict") else "right")
    for r in rows:
        rate = r.sealed_mb / r.seal_s if r.seal_s else 0.0
        cells = (r.make_s, r.backup_s, r.seal_s, rate, r.size_mb, r.restore_s, r.check_s,
                 r.cpu_s, r.server_cpu_s)  # fmt: skip
        figures = [f"{value:,.1f}" for value in cells]
        table.add_row(r.backend, f"{r.transfers:,}", f"{r.entries:,}", *figures, r.verdict)
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--no-encrypt", action="store_true", help="the clear backup of before")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        work = Path(tempfile.mkdtemp(prefix=f"paycore-bench-dr-{backend}-", dir=args.work_dir))
        try:
            run = run_sqlite if backend == "sqlite" else run_postgres
            rows.append(run(work, args.transfers, args.seed, encrypt=not args.no_encrypt))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print_table(rows)
    return 0 if all(r.verdict == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
