"""Rewards benchmark: one 10,000-row batch payout and its re-runs, on SQLite and PostgreSQL.

For each backend it recreates a scratch database, migrates it, opens one wallet per
recipient and funds a budget with a little less than the batch needs, then times:

  first run    validate and store every row, pay them in chunks of 1,000 transfers; the
               budget runs out near the end, so the last rows fail with budget_exhausted
  re-run       after funding the rest: only the failed rows are paid (new attempt ids)
  no-op re-run everything is paid: nothing moves

    .venv/bin/python bench/rewards.py                      # both backends, 10,000 rows
    .venv/bin/python bench/rewards.py --rows 2000 --backends sqlite

PostgreSQL must be reachable at --pg-url (a database named *bench* on 127.0.0.1, which
is dropped and recreated).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common import check_pg_url, reset_postgres, reset_sqlite
from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Router
from paycore.ledger.model import AccountFlags, TransferRequest
from paycore.ledger.service import AccountRequest
from paycore.payments import bookkeeping as books
from paycore.platform.config import Settings
from paycore.platform.db import upgrade
from paycore.rewards.files import csv_file
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.wallets.model import (
    CODE_USER_RECEIVABLE,
    CODE_USER_WALLET,
    ledger_owner,
    receivable_account,
    wallet_account,
)

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench_rewards"
DEFAULT_SQLITE_PATH = "./var/bench/rewards.db"
ROWS_MAX = 100_000
ACCOUNT_CHUNK = 5_000
INVALID_EVERY = 100
"""One row in a hundred names a recipient without a wallet: validation has work to do."""
SHORT_BY = 0.05
"""The budget is funded 5% short, so the first run ends with budget_exhausted rows."""

console = Console(width=None if sys.stdout.isatty() else 120)


@dataclass
class Measured:
    backend: str
    run: str
    rows: int  # rows the run tried to pay
    paid: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def open_wallets(rt: Runtime, merchant_id: str, owners: Sequence[str]) -> None:
    """The accounts `Wallets.open` makes, in bulk: setting up is not what is measured."""
    requests = []
    for owner in owners:
        meta = {"merchant_id": merchant_id, "owner": owner}
        requests += [
            AccountRequest(
                id=wallet_account(merchant_id, owner, "CNY"),
                currency="CNY",
                code=CODE_USER_WALLET,
                owner_id=ledger_owner(merchant_id, owner),
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                metadata=meta,
            ),
            AccountRequest(
                id=receivable_account(merchant_id, owner, "CNY"),
                currency="CNY",
                code=CODE_USER_RECEIVABLE,
                owner_id=ledger_owner(merchant_id, owner),
                flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
                metadata=meta,
            ),
        ]
    for start in range(0, len(requests), ACCOUNT_CHUNK):
        rt.ledger.create_accounts(requests[start : start + ACCOUNT_CHUNK])


def fund_merchant(rt: Runtime, merchant_id: str, amount: int) -> None:
    wallet = books.wallet_account(merchant_id, "CNY")
    rt.ledger.create_accounts(
        [
            AccountRequest(id="acct_bench_equity_CNY", currency="CNY"),
            AccountRequest(
                id=wallet,
                currency="CNY",
                code=books.CODE_WALLET,
                owner_id=merchant_id,
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
            ),
        ]
    )
    rt.ledger.create_transfers(
        [TransferRequest("tr_bench_fund", "acct_bench_equity_CNY", wallet, amount, "CNY")]
    )


def bench_backend(name: str, url: str, rows: int) -> list[Measured]:
    upgrade(url)
    # No channels and a throwaway field key: a batch pays wallet to wallet, no bank involved.
    registry = ChannelRegistry()
    rt = Runtime.build(
        Settings(database_url=url, expiry_interval_s=1.0),
        channels=Channels(registry, Router(registry, [])),
        cipher=FieldCipher({"bench": os.urandom(32)}, "bench"),
    )
    try:
        merchant, _ = rt.merchants.create(name="Bench rewards")
        owners = [f"r{i:06d}" for i in range(rows)]
        with console.status(f"{name}: opening {rows:,} wallets"):
            open_wallets(rt, merchant.id, owners)
        lines = ["recipient,amount,note"]
        for i, owner in enumerate(owners):
            recipient = f"ghost{i}" if i % INVALID_EVERY == INVALID_EVERY - 1 else owner
            lines.append(f"{recipient},{100 + i % 900},bench")
        content = ("\n".join(lines) + "\n").encode()
        needed = sum(100 + i % 900 for i in range(rows) if i % INVALID_EVERY != INVALID_EVERY - 1)
        fund_merchant(rt, merchant.id, needed * 2)
        rt.rewards.create_budget(
            merchant.id,
            "bench",
            name="bench",
            currency="CNY",
            row_amount_max=1_000,
            recipient_total_max=10_000,
        )
        first_funding = int(needed * (1 - SHORT_BY))
        rt.rewards.fund(merchant.id, "bench", amount=first_funding, reference="f1")
        measured: list[Measured] = []
        to_try = rows - rows // INVALID_EVERY  # the first run tries every valid row
        paid_before = 0
        for run in ("first run", "re-run", "no-op re-run"):
            if run == "re-run":
                rt.rewards.fund(merchant.id, "bench", amount=needed - first_funding, reference="f2")
            started = time.perf_counter()
            summary = rt.rewards.pay(
                merchant.id, budget_id="bench", batch_id="b1", source=csv_file(content)
            )
            seconds = time.perf_counter() - started
            paid = summary.counts["paid"] - paid_before
            paid_before = summary.counts["paid"]
            measured.append(Measured(name, run, to_try, paid, seconds))
            console.print(f"{name} {run}: {to_try:,} rows tried, {paid:,} paid in {seconds:.2f} s")
            to_try = summary.retryable_rows
        budget = rt.rewards.get_budget(merchant.id, "bench")
        if budget.balance != 0 or summary.paid_amount != needed or not rt.ledger.check().ok:
            raise SystemExit(f"{name}: the batch did not pay exactly what it should")
        return measured
    finally:
        rt.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--sqlite-path", default=DEFAULT_SQLITE_PATH)
    args = parser.parse_args(argv)
    if not 0 < args.rows <= ROWS_MAX:
        parser.error(f"--rows is 1 to {ROWS_MAX:,}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Measured] = []
    for name in args.backends:
        if name == "sqlite":
            url = reset_sqlite(Path(args.sqlite_path))
        else:
            url = reset_postgres(check_pg_url(args.pg_url))
        results += bench_backend(name, url, args.rows)
    table = Table(title=f"paycore rewards: a {args.rows:,}-row batch (1% invalid rows)")
    for column in ("backend", "run", "rows tried", "paid", "seconds", "rows tried/s"):
        table.add_column(column, justify="left" if column in ("backend", "run") else "right")
    for r in results:
        table.add_row(
            r.backend,
            r.run,
            f"{r.rows:,}",
            f"{r.paid:,}",
            f"{r.seconds:.2f}",
            f"{r.rows_per_s:,.0f}",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
