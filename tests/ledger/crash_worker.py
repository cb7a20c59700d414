"""Posts transfers until it is killed, printing every acknowledged one: the crash test's victim.

    python tests/ledger/crash_worker.py RUN_TAG     (PAYCORE_DATABASE_URL names the database)

Each line on stdout is written and flushed only after `create_transfers` returned:

    ready
    created <transfer id>
    refused <transfer id> <result>

Transfers in a linked chain have ids `<tag>.<thread>.<n>.L<size>.<k>`, so that the test
can find every chain in the database and see whether it was applied whole. Several
threads submit at once, so the group-commit writer commits many batches together.
"""

from __future__ import annotations

import os
import random
import sys
import threading

from paycore.ledger.model import AccountFlags, TransferFlags, TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import make_engine

CURRENCY = "CNY"
BANK = "acct_crash_bank"
ACCOUNTS = tuple(f"acct_crash_{i}" for i in range(5))
SEED_MINOR = 1_000_000
THREADS = 4
_print_lock = threading.Lock()


def emit(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def open_accounts(ledger: Ledger) -> None:
    """Idempotent: a restarted worker finds the accounts and seed transfers as `exists`."""
    ledger.create_account(AccountRequest(currency=CURRENCY, id=BANK))
    for account_id in ACCOUNTS:
        ledger.create_account(
            AccountRequest(
                currency=CURRENCY, id=account_id, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            )
        )
    seeds = [
        TransferRequest(
            id=f"seed-{a}",
            debit_account_id=BANK,
            credit_account_id=a,
            amount=SEED_MINOR,
            currency=CURRENCY,
        )
        for a in ACCOUNTS
    ]
    results = {r.result for r in ledger.create_transfers(seeds)}
    if not results <= {"created", "exists"}:
        raise SystemExit(f"seeding failed: {results}")


class Poster:
    def __init__(self, ledger: Ledger, prefix: str) -> None:
        self.ledger = ledger
        self.prefix = prefix
        self.rng = random.Random()
        self.n = 0

    def submit(self, batch: list[TransferRequest]) -> list[str]:
        results = [r.result for r in self.ledger.create_transfers(batch)]
        for t, result in zip(batch, results, strict=True):
            emit(f"created {t.id}" if result == "created" else f"refused {t.id} {result}")
        return results

    def transfer(self, tid: str, *, flags: TransferFlags = TransferFlags.NONE) -> TransferRequest:
        debit, credit = self.rng.sample(ACCOUNTS, 2)
        # Now and then an amount no account holds, so that some transfers and chains fail.
        amount = SEED_MINOR * 50 if self.rng.random() < 0.1 else self.rng.randint(1, 5_000)
        return TransferRequest(
            id=tid,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            currency=CURRENCY,
            flags=flags,
        )

    def step(self) -> None:
        self.n += 1
        base = f"{self.prefix}.{self.n}"
        roll = self.rng.random()
        if roll < 0.3:
            self.submit([self.transfer(f"{base}.{k}") for k in range(self.rng.randint(1, 8))])
        elif roll < 0.7:
            size = self.rng.randint(2, 5)
            chain = [
                self.transfer(f"{base}.L{size}.{k}", flags=TransferFlags.LINKED)
                for k in range(size - 1)
            ]
            self.submit([*chain, self.transfer(f"{base}.L{size}.{size - 1}")])
        else:
            [result] = self.submit([self.transfer(f"{base}.p", flags=TransferFlags.PENDING)])
            if result == "created":
                flags = TransferFlags.POST_PENDING
                if self.rng.random() < 0.3:
                    flags = TransferFlags.VOID_PENDING
                self.submit([TransferRequest(id=f"{base}.r", pending_id=f"{base}.p", flags=flags)])

    def run(self) -> None:
        try:
            while True:
                self.step()
        except BaseException as exc:  # a worker that cannot write must not look merely slow
            emit(f"error {type(exc).__name__}: {exc}".replace("\n", " "))
            os._exit(3)


def main() -> None:
    tag = sys.argv[1]
    ledger = Ledger(make_engine(os.environ["PAYCORE_DATABASE_URL"]))
    open_accounts(ledger)
    emit("ready")
    threads = [
        threading.Thread(target=Poster(ledger, f"{tag}.{i}").run, daemon=True)
        for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # forever: the test ends this process with SIGKILL


if __name__ == "__main__":
    main()
