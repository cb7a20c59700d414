"""How every operation on a split runs, crash-safe: write the intent, post, record.

1. the operation's transfers and the legs they lead to are saved in the split's row
   (`pending_op`, with the split's version: one writer wins);
2. the transfers are posted to the ledger as one linked batch;
3. the row takes the new legs and drops `pending_op` (with the refund's row, if any).

A crash between the steps leaves `pending_op` in the row; whoever touches the split next
(an operation, or the tick) posts the same transfers again, and the ledger moves the
money once. An operation the ledger refused is dropped; nothing moved.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine

from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.ledger.model import TransferStatus
from paycore.ledger.service import Ledger
from paycore.platform.db import WRITER
from paycore.split import store
from paycore.split.bookkeeping import Plan
from paycore.split.model import LegState, Split, SplitStatus, status_of
from paycore.wallets.service import Wallets

log = logging.getLogger(__name__)

_DONE = ("created", "exists")
SAVE_TRIES_MAX = 5
_STRIPES = 64

Planner = Callable[[Split, str], Plan]
"""Makes an operation's plan from the split and the prefix of its transfer ids."""


def first_failure(results: list[str]) -> str | None:
    """The ledger's reason for refusing a linked batch (not the legs that failed with it)."""
    refused = [r for r in results if r not in _DONE]
    real = [r for r in refused if r != "linked_event_failed"]
    found = real or refused
    return found[0] if found else None


class SplitBook:
    def __init__(self, *, engine: Engine, ledger: Ledger, wallets: Wallets, clock: Clock) -> None:
        self.engine = engine
        self.ledger = ledger
        self.wallets = wallets
        self.clock = clock
        # Writers of one split queue here instead of losing version races to each other;
        # other processes are kept out by the version check.
        self._locks = [threading.RLock() for _ in range(_STRIPES)]
        self.on_done: dict[str, Callable[[Connection, dict[str, Any]], None]] = {}
        """Per operation kind: more to write with the split once its transfers landed."""

    def lock(self, split_id: str) -> threading.RLock:
        return self._locks[hash(split_id) % _STRIPES]

    def load(self, split_id: str) -> Split:
        with self.engine.connect() as conn:
            split = store.get_split(conn, split_id)
        if split is None:
            raise Rejected("split_not_found", f"no split {split_id}")
        return split

    def save(self, split: Split, also: Callable[[Connection], None] | None = None) -> bool:
        split.updated_at = self.clock.now()
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if not store.save_split(conn, split):
                return False
            if also is not None:
                also(conn)
        return True

    # -- operations ---------------------------------------------------------------------

    def run(
        self, split_id: str, kind: str, planner: Planner, **extra: Any
    ) -> tuple[Split, str | None]:
        """Plan, record, post and finish one operation; returns the split and the ledger's
        reason if it refused the operation (nothing moved then)."""
        with self.lock(split_id):
            for _ in range(SAVE_TRIES_MAX):
                split = self.sync_expired(self.finish_pending(self.load(split_id)))
                plan = planner(split, f"tr_{split.id}_{split.seq}")
                if not plan.transfers:
                    return split, None
                split.pending_op = {
                    "kind": kind,
                    "transfers": store.transfers_doc(plan.transfers),
                    "legs": store.legs_doc(plan.legs),
                    **extra,
                    **plan.detail,
                }
                split.seq += 1
                if self.save(split):
                    return self._post(split)
            raise Rejected("split_update_in_progress", f"{split_id} keeps changing; try again")

    def finish_pending(self, split: Split) -> Split:
        """Post again an operation a crash left half done, and record its outcome."""
        if not split.pending_op:
            return split
        with self.lock(split.id):
            return self._post(split)[0]

    def _post(self, split: Split) -> tuple[Split, str | None]:
        op = split.pending_op
        transfers = store.transfers_of(op["transfers"])
        results = [r.result for r in self.ledger.create_transfers(transfers)]
        failure = first_failure(results)
        if failure is None:
            split.legs = store.legs_of(op["legs"])
            split.status = status_of(split.legs)
            split.refunded += int(op.get("refunded_delta", 0))
        elif op["kind"] == "apply":
            split.status, split.failure_code = SplitStatus.FAILED, failure
        split.pending_op = {}
        hook = self.on_done.get(op["kind"]) if failure is None else None
        also = (lambda conn: hook(conn, op)) if hook else None
        if not self.save(split, also):
            # Someone else finished it meanwhile (same transfers, so the same outcome).
            split = self.load(split.id)
        elif failure is None:
            self._repay_debts(split, op)
        if failure is not None:
            log.info("split %s: ledger refused %s: %s", split.id, op["kind"], failure)
        return split, failure

    def _repay_debts(self, split: Split, op: dict[str, Any]) -> None:
        if op["kind"] not in ("apply", "confirm", "refund.undo"):
            return
        for leg in split.legs:
            if leg.owner is not None and leg.state is LegState.POSTED:
                self.wallets.repay_debt(split.merchant_id, leg.owner, split.currency)

    # -- expiry -------------------------------------------------------------------------

    def sync_expired(self, split: Split) -> Split:
        """Mark frozen legs whose hold the ledger expired; the money is the merchant's again."""
        if split.expires_at is None or split.expires_at > self.clock.now():
            return split
        changed = False
        for leg in split.legs:
            if leg.state is not LegState.PENDING:
                continue
            transfer = self.ledger.get_transfer(leg.transfer_id)
            if transfer is not None and transfer.status == TransferStatus.EXPIRED_PENDING:
                leg.state, leg.frozen = LegState.EXPIRED, 0
                changed = True
        if changed:
            split.status = status_of(split.legs)
            if not self.save(split):
                return self.load(split.id)
        return split
