"""Paying reward batches: a batch is validated and stored once, then its valid rows are
paid a chunk at a time, each row's attempt and transfer id recorded before the ledger call,
so a run that dies anywhere is finished by running it again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.ledger.model import TransferRequest
from paycore.ledger.service import Ledger
from paycore.platform.db import WRITER
from paycore.rewards import store
from paycore.rewards.budgets import Budgets
from paycore.rewards.files import BatchFile
from paycore.rewards.model import (
    CHUNK_ROWS,
    REASON_REWARD,
    BatchSummary,
    Budget,
    RowOutcome,
    RowStatus,
    check_name,
    check_not_personal,
    outcome_of,
    plan_rows,
    plausible_recipients,
    reward_transfer_id,
)
from paycore.rewards.notes import RewardNotes
from paycore.rewards.results import BatchResults
from paycore.wallets.model import wallet_account

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (rows done, rows to do) after each chunk of a run."""


class BatchRuns:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        notes: RewardNotes,
        budgets: Budgets,
        results: BatchResults,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._notes = notes
        self._budgets = budgets
        self._results = results

    def pay(
        self,
        merchant_id: str,
        *,
        budget_id: str,
        batch_id: str,
        source: BatchFile,
        progress: Progress | None = None,
    ) -> BatchSummary:
        """Validate and store a new batch, then pay its valid rows; or, for a batch seen
        before with the same file, pay only its rows that are not paid and may be retried."""
        check_name("batch", batch_id)
        check_not_personal("budget", budget_id)
        budget = self._budgets.budget(merchant_id, budget_id)
        if not self._known_batch(merchant_id, batch_id, budget_id, source.digest):
            self._store_batch(merchant_id, batch_id, budget, source)
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.count_run(conn, merchant_id, batch_id, self._clock.now())
            todo = store.rows_to_pay(conn, merchant_id, batch_id)
        done = 0
        for start in range(0, len(todo), CHUNK_ROWS):
            chunk = todo[start : start + CHUNK_ROWS]
            self._pay_chunk(merchant_id, batch_id, budget, chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, len(todo))
        summary = self._results.summary(merchant_id, batch_id)
        log.info(
            "reward batch run",
            extra={"merchant_id": merchant_id, "batch_id": batch_id, "rows_tried": len(todo)},
        )
        return summary

    def _known_batch(self, merchant_id: str, batch_id: str, budget_id: str, digest: str) -> bool:
        with self._engine.connect() as conn:
            found = store.get_batch(conn, merchant_id, batch_id)
        if found is None:
            return False
        if found.file_sha256 != digest or found.budget_id != budget_id:
            raise Rejected("batch_reused", f"batch {batch_id} was run with another file or budget")
        return True

    def _store_batch(
        self, merchant_id: str, batch_id: str, budget: Budget, source: BatchFile
    ) -> None:
        raws = list(source.read())
        candidates = sorted(plausible_recipients(raws))
        accounts = {wallet_account(merchant_id, r, budget.currency): r for r in candidates}
        existing = self._ledger.existing_accounts(list(accounts))
        known = frozenset(accounts[a] for a in existing)
        try:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.lock_budget(conn, merchant_id, budget.id)
                if store.get_batch(conn, merchant_id, batch_id) is None:
                    totals = store.recipient_totals(conn, merchant_id, budget.id)
                    planned = plan_rows(
                        raws, budget=budget, known_recipients=known, paid_so_far=totals
                    )
                    store.insert_batch(
                        conn,
                        merchant_id=merchant_id,
                        batch_id=batch_id,
                        budget=budget,
                        file_sha256=source.digest,
                        planned=planned,
                        notes_enc=self._notes.seal(merchant_id, batch_id, planned),
                        now=self._clock.now(),
                    )
                    return
        except IntegrityError:
            pass  # a concurrent run on another budget stored the same batch id first
        # Stored meanwhile: the same file carries on, another file is refused.
        self._known_batch(merchant_id, batch_id, budget.id, source.digest)

    def _pay_chunk(
        self, merchant_id: str, batch_id: str, budget: Budget, chunk: list[RowOutcome]
    ) -> None:
        outcomes = self._attempt(merchant_id, batch_id, budget, chunk)
        # A run that crashed after its transfers failed but before saying so left ids the
        # ledger now refuses (`id_already_failed`): try those rows once more with a new id.
        stale = [o for o in outcomes if o.reason == "attempt_failed"]
        if stale:
            again = {o.position: o for o in self._attempt(merchant_id, batch_id, budget, stale)}
            outcomes = [again.get(o.position, o) for o in outcomes]
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.save_rows(conn, merchant_id, batch_id, outcomes, self._clock.now())

    def _attempt(
        self, merchant_id: str, batch_id: str, budget: Budget, chunk: list[RowOutcome]
    ) -> list[RowOutcome]:
        """Record each row's attempt and transfer id, then move the money: after a crash at
        any point a re-run submits the same id again and the ledger answers `exists`."""
        tried = [_next_attempt(merchant_id, batch_id, row) for row in chunk]
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.save_rows(conn, merchant_id, batch_id, tried, self._clock.now())
        results = self._ledger.create_transfers(
            [_reward_transfer(merchant_id, batch_id, budget, row) for row in tried]
        )
        outcomes = []
        for row, result in zip(tried, results, strict=True):
            status, reason, retryable = outcome_of(result.result)
            outcomes.append(replace(row, status=status, reason=reason, retryable=retryable))
        return outcomes


def _next_attempt(merchant_id: str, batch_id: str, row: RowOutcome) -> RowOutcome:
    """A pending row that already has an id retries that id (its money may have moved);
    anything else gets the next attempt and its own new id."""
    if row.status == RowStatus.PENDING and row.transfer_id is not None:
        return row
    if row.row is None:  # pragma: no cover - invalid rows are never paid
        raise Rejected("invalid_row", "a row without a number is never paid")
    attempt = row.attempt + 1
    return replace(
        row,
        status=RowStatus.PENDING,
        reason=None,
        retryable=False,
        attempt=attempt,
        transfer_id=reward_transfer_id(merchant_id, batch_id, row.row, attempt),
    )


def _reward_transfer(
    merchant_id: str, batch_id: str, budget: Budget, row: RowOutcome
) -> TransferRequest:
    return TransferRequest(
        id=row.transfer_id or "",
        debit_account_id=budget.account_id,
        credit_account_id=wallet_account(merchant_id, row.recipient, budget.currency),
        amount=row.amount,
        currency=budget.currency,
        code=REASON_REWARD,
        metadata={"merchant_id": merchant_id, "batch_id": batch_id, "row": row.row},
    )
