"""The PostgreSQL floor measured by pgbench: the least SQL a transfer needs (two balance
UPDATEs and one INSERT in one transaction), from C clients, on tables of its own.

A Python client on these 2 cores spends about as much CPU as the database per transaction,
so a floor it drives says more about the client than about PostgreSQL; pgbench (C, prepared
statements) is the floor paycore over HTTP is held to.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

ACCOUNTS_TABLE = "pgbench_floor_account"
TRANSFERS_TABLE = "pgbench_floor_transfer"
PGBENCH = "pgbench"
PGBENCH_THREADS = 2

DDL = (
    f"DROP TABLE IF EXISTS {TRANSFERS_TABLE}",
    f"DROP TABLE IF EXISTS {ACCOUNTS_TABLE}",
    f"CREATE TABLE {ACCOUNTS_TABLE} (id BIGINT PRIMARY KEY,"
    " debits_posted BIGINT NOT NULL DEFAULT 0, credits_posted BIGINT NOT NULL DEFAULT 0)",
    # A random text key, as paycore's transfer ids are text chosen by the client.
    f"CREATE TABLE {TRANSFERS_TABLE} (id TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,"
    " debit_account_id BIGINT NOT NULL, credit_account_id BIGINT NOT NULL,"
    " amount BIGINT NOT NULL)",
)

# Row locks are always taken in the order of account ids, so transactions never deadlock.
_TRANSFER = """
\\if :debit < :credit
UPDATE {accounts} SET debits_posted = debits_posted + :amount WHERE id = :debit;
UPDATE {accounts} SET credits_posted = credits_posted + :amount WHERE id = :credit;
\\else
UPDATE {accounts} SET credits_posted = credits_posted + :amount WHERE id = :credit;
UPDATE {accounts} SET debits_posted = debits_posted + :amount WHERE id = :debit;
\\endif
INSERT INTO {transfers} (debit_account_id, credit_account_id, amount)
  VALUES (:debit, :credit, :amount);
END;
"""

UNIFORM = """
\\set debit random(1, {accounts_count})
\\set credit random(1, {accounts_count} - 1)
\\if :credit >= :debit
\\set credit :credit + 1
\\endif
\\set amount random(1, {amount_max})
BEGIN;
"""

HOT = """
\\set debit random(2, {accounts_count})
\\set credit 1
\\set amount random(1, {amount_max})
BEGIN;
"""


@dataclass(frozen=True)
class FloorRun:
    transfers: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int


def available() -> bool:
    return shutil.which(PGBENCH) is not None


def setup(dsn: str, accounts: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in DDL:
            conn.execute(statement)
        conn.execute(
            f"INSERT INTO {ACCOUNTS_TABLE} (id) SELECT generate_series(1, %s)", (accounts,)
        )
        conn.execute(f"VACUUM ANALYZE {ACCOUNTS_TABLE}")


def run(
    dsn: str, *, hot: bool, accounts: int, amount_max: int, clients: int, seconds: float
) -> FloorRun:
    """One pgbench run of `seconds`; latencies from its per-transaction log."""
    work = Path(tempfile.mkdtemp(prefix="pgbench-floor-"))
    try:
        head = HOT if hot else UNIFORM
        script = work / "transfer.sql"
        script.write_text(
            head.format(accounts_count=accounts, amount_max=amount_max)
            + _TRANSFER.format(accounts=ACCOUNTS_TABLE, transfers=TRANSFERS_TABLE)
        )
        duration = max(1, round(seconds))
        command = [PGBENCH, "-n", "-M", "prepared", "-c", str(clients)]
        command += ["-j", str(min(PGBENCH_THREADS, clients)), "-T", str(duration)]
        command += ["-f", str(script), "-l", "--log-prefix", str(work / "log"), dsn]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"pgbench exit {done.returncode}: {done.stderr[-500:]}")
        latencies_us = sorted(
            int(line.split()[2])
            for log in work.glob("log.*")
            for line in log.read_text().splitlines()
            if line.strip()
        )
        failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
        return FloorRun(
            transfers=len(latencies_us),
            seconds=float(duration),
            p50_ms=_percentile(latencies_us, 50) / 1000,
            p99_ms=_percentile(latencies_us, 99) / 1000,
            failed=int(failed.group(1)) if failed else 0,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def sums(dsn: str) -> tuple[int, int, int, int]:
    """(debits_posted, credits_posted, transfer rows, transfer amounts) of the floor."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT COALESCE(SUM(debits_posted), 0), COALESCE(SUM(credits_posted), 0)"
            f" FROM {ACCOUNTS_TABLE}"
        ).fetchone()
        totals = conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM {TRANSFERS_TABLE}"
        ).fetchone()
        assert row is not None and totals is not None
        return int(row[0]), int(row[1]), int(totals[0]), int(totals[1])


def _percentile(sorted_values: list[int], p: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * p // 100))
    return float(sorted_values[int(rank) - 1])
