"""A journal worth backing up: accounts, plain transfers, holds posted in part and voided,
written through the ledger's own writer, and a thread that keeps posting meanwhile."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from paycore.ledger.model import TransferFlags
from paycore.ledger.model import TransferRequest as Tr
from paycore.ledger.service import AccountRequest, Ledger

ACCOUNTS = 20
CCY = "CNY"
PACE_S = 0.02
"""Between the live batches: a steady trickle, not a flood the restore must replay."""


def open_accounts(ledger: Ledger) -> list[str]:
    ids = [f"acct_dr_{n:03d}" for n in range(ACCOUNTS)]
    ledger.create_accounts([AccountRequest(CCY, id=i) for i in ids])
    return ids


def batch(accounts: list[str], prefix: str, size: int) -> list[Tr]:
    """`size` transfers: a third plain, a third holds, and for each hold a post (in part)
    or a void in the same batch."""
    transfers: list[Tr] = []
    for n in range(size // 3):
        debit, credit = accounts[n % len(accounts)], accounts[(n * 7 + 1) % len(accounts)]
        if debit == credit:
            credit = accounts[(n + 1) % len(accounts)]
        amount = 100 + n % 997
        transfers.append(Tr(f"{prefix}_{n}_t", debit, credit, amount, CCY))
        hold = f"{prefix}_{n}_h"
        transfers.append(Tr(hold, credit, debit, amount, CCY, flags=TransferFlags.PENDING))
        if n % 2:
            transfers.append(Tr(f"{prefix}_{n}_p", pending_id=hold, amount=amount // 2,
                                flags=TransferFlags.POST_PENDING))  # fmt: skip
        else:
            transfers.append(Tr(f"{prefix}_{n}_v", pending_id=hold,
                                flags=TransferFlags.VOID_PENDING))  # fmt: skip
    return transfers


def post(
    ledger: Ledger, accounts: list[str], prefix: str, *, transfers: int, size: int = 600
) -> None:
    for k in range(0, transfers, size):
        results = ledger.create_transfers(batch(accounts, f"{prefix}{k}", min(size, transfers - k)))
        refused = [r for r in results if r.result != "created"]
        if refused:
            raise AssertionError(f"the ledger refused {refused[:3]}")


@contextmanager
def posting_meanwhile(ledger: Ledger, accounts: list[str], prefix: str) -> Iterator[list[int]]:
    """Post small batches on a thread until the block ends; yields the count of batches."""
    stop = threading.Event()
    done = [0]

    def keep_posting() -> None:
        for n in itertools.count():
            post(ledger, accounts, f"{prefix}{n}_", transfers=30, size=30)
            done[0] += 1
            if stop.wait(PACE_S):
                return

    thread = threading.Thread(target=keep_posting, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join(timeout=30)
