"""Cash rewards (现金奖励) use cases: budgets, funding, and batch payouts to many recipients.

A batch is idempotent by (merchant, batch id): its rows and each row's outcome are stored
the first time; a re-run of the same file only retries rows that failed for a reason that
may pass later (`budget_exhausted`), each with a new attempt number and so a new transfer
id, since the ledger remembers a failed id. A paid row keeps its transfer id forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from paycore import limits
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.ledger.model import AccountFlags, TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.money import is_known_currency
from paycore.payments import bookkeeping as books
from paycore.platform.db import WRITER
from paycore.rewards import store
from paycore.rewards.files import RESULT_COLUMNS, BatchFile, csv_line, result_line
from paycore.rewards.model import (
    CHUNK_ROWS,
    CODE_REWARD_BUDGET,
    REASON_BUDGET_FUND,
    REASON_BUDGET_WITHDRAW,
    REASON_REWARD,
    ROWS_PAGE_MAX,
    BatchSummary,
    Budget,
    BudgetBalance,
    RowOutcome,
    RowStatus,
    budget_account,
    check_name,
    check_not_personal,
    fund_transfer_id,
    outcome_of,
    plan_rows,
    plausible_recipients,
    reward_transfer_id,
    withdraw_transfer_id,
)
from paycore.rewards.notes import RewardNotes
from paycore.security.crypto import FieldCipher
from paycore.security.masking import redact_personal_numbers
from paycore.wallets.model import wallet_account

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (rows done, rows to do) after each chunk of a run."""


class Rewards:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        cipher: FieldCipher | None = None,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._notes = RewardNotes(cipher)

    def tick(self) -> None:
        """Periodic work: none. A batch runs when its merchant starts (or re-runs) it."""

    # -- budgets ---------------------------------------------------------------------------

    def create_budget(
        self,
        merchant_id: str,
        budget_id: str,
        *,
        name: str,
        currency: str,
        row_amount_max: int,
        recipient_total_max: int,
    ) -> BudgetBalance:
        """A budget and its ledger account; the same id with the same terms again is a no-op,
        with other terms `budget_exists`."""
        check_name("budget", budget_id)
        if not 0 < len(name) <= 128:
            raise Rejected("invalid_name", "a budget name is 1 to 128 characters")
        if not is_known_currency(currency):
            raise Rejected("unknown_currency", f"{currency!r} is not ISO 4217")
        for label, value in (("row", row_amount_max), ("recipient", recipient_total_max)):
            if not 0 < value <= limits.PAYMENT_AMOUNT_MAX:
                raise Rejected(
                    "invalid_limit", f"the {label} limit is 1 to {limits.PAYMENT_AMOUNT_MAX}"
                )
        wanted = Budget(
            merchant_id=merchant_id,
            id=budget_id,
            # Free text, shown in answers and statements: masked when saved, not refused.
            name=redact_personal_numbers(name),
            currency=currency,
            account_id=budget_account(merchant_id, budget_id),
            row_amount_max=row_amount_max,
            recipient_total_max=recipient_total_max,
            created_at=self._clock.now(),
        )
        existing = self._find_budget(merchant_id, budget_id)
        if existing is None:
            self._ledger.create_account(
                AccountRequest(
                    id=wanted.account_id,
                    currency=currency,
                    code=CODE_REWARD_BUDGET,
                    owner_id=merchant_id,
                    flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                    metadata={"merchant_id": merchant_id, "budget_id": budget_id},
                )
            )
            try:
                with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                    store.insert_budget(conn, wanted)
                return self.get_budget(merchant_id, budget_id)
            except IntegrityError:
                existing = self._find_budget(merchant_id, budget_id)  # created meanwhile
        if existing is None or replace(existing, created_at=wanted.created_at) != wanted:
            raise Rejected("budget_exists", f"budget {budget_id} exists with other terms")
        return self.get_budget(merchant_id, budget_id)

    def _find_budget(self, merchant_id: str, budget_id: str) -> Budget | None:
        with self._engine.connect() as conn:
            return store.get_budget(conn, merchant_id, budget_id)

    def _budget(self, merchant_id: str, budget_id: str) -> Budget:
        budget = self._find_budget(merchant_id, budget_id)
        if budget is None:  # also another merchant's budget: it does not exist for this one
            raise Rejected("budget_not_found", f"no budget {budget_id}")
        return budget

    def _balance(self, budget: Budget) -> BudgetBalance:
        account = self._ledger.get_account(budget.account_id)
        funded = account.credits_posted if account else 0
        spent = account.debits_posted if account else 0
        return BudgetBalance(budget=budget, balance=funded - spent, funded=funded, spent=spent)

    def get_budget(self, merchant_id: str, budget_id: str) -> BudgetBalance:
        return self._balance(self._budget(merchant_id, budget_id))

    def list_budgets(self, merchant_id: str) -> list[BudgetBalance]:
        with self._engine.connect() as conn:
            found = store.list_budgets(conn, merchant_id, limits.ACCOUNTS_PAGE_MAX)
        return [self._balance(b) for b in found]

    def fund(self, merchant_id: str, budget_id: str, *, amount: int, reference: str) -> str:
        """Merchant wallet → budget; idempotent by `reference` (the same one moves money once)."""
        budget = self._budget(merchant_id, budget_id)
        transfer = TransferRequest(
            id=fund_transfer_id(merchant_id, budget_id, reference),
            debit_account_id=books.wallet_account(merchant_id, budget.currency),
            credit_account_id=budget.account_id,
            amount=amount,
            currency=budget.currency,
            code=REASON_BUDGET_FUND,
            metadata={"merchant_id": merchant_id, "budget_id": budget_id, "reference": reference},
        )
        return self._move(transfer, reference, short="insufficient_balance")

    def withdraw(self, merchant_id: str, budget_id: str, *, amount: int, reference: str) -> str:
        """Budget → merchant wallet: what is left goes back; idempotent by `reference`."""
        budget = self._budget(merchant_id, budget_id)
        transfer = TransferRequest(
            id=withdraw_transfer_id(merchant_id, budget_id, reference),
            debit_account_id=budget.account_id,
            credit_account_id=books.wallet_account(merchant_id, budget.currency),
            amount=amount,
            currency=budget.currency,
            code=REASON_BUDGET_WITHDRAW,
            metadata={"merchant_id": merchant_id, "budget_id": budget_id, "reference": reference},
        )
        return self._move(transfer, reference, short="budget_exhausted")

    def _move(self, transfer: TransferRequest, reference: str, *, short: str) -> str:
        if not 0 < (transfer.amount or 0) <= limits.PAYMENT_AMOUNT_MAX:
            raise Rejected("invalid_amount", f"amount is 1 to {limits.PAYMENT_AMOUNT_MAX}")
        if not 0 < len(reference) <= 64:
            raise Rejected("invalid_reference", "a reference is 1 to 64 characters")
        [result] = self._ledger.create_transfers([transfer])
        code = result.result
        if code in ("created", "exists"):
            return transfer.id
        if code in ("exceeds_credits", "debit_account_not_found"):
            raise Rejected(short, "the paying account cannot cover it")
        if code == "credit_account_not_found":
            raise Rejected("wallet_not_found", "the merchant has no wallet in this currency")
        if code == "id_already_failed":
            raise Rejected("reference_already_failed", f"{reference} failed before; use a new one")
        if code.startswith("exists_with_different"):
            raise Rejected("reference_reused", f"{reference} was used for a different amount")
        raise Rejected(code, f"the ledger refused {reference}")

    # -- batches ----------------------------------------------------------------------------

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
        budget = self._budget(merchant_id, budget_id)
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
        summary = self.summary(merchant_id, batch_id)
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

    # -- reading batches -------------------------------------------------------------------------

    def summary(self, merchant_id: str, batch_id: str) -> BatchSummary:
        with self._engine.connect() as conn:
            batch = store.get_batch(conn, merchant_id, batch_id)
            if batch is None:
                raise Rejected("batch_not_found", f"no batch {batch_id}")
            groups = store.batch_counts(conn, merchant_id, batch_id)
        counts = {s: 0 for s in (RowStatus.PAID, RowStatus.FAILED, RowStatus.INVALID)}
        counts[RowStatus.PENDING] = 0
        paid_amount = retryable = 0
        for status, is_retryable, rows, amount in groups:
            counts[status] = counts.get(status, 0) + rows
            if status == RowStatus.PAID:
                paid_amount += int(amount or 0)
            if status == RowStatus.FAILED and is_retryable:
                retryable += rows
        return BatchSummary(
            merchant_id=merchant_id,
            id=batch_id,
            budget_id=batch.budget_id,
            currency=batch.currency,
            file_sha256=batch.file_sha256,
            rows=batch.row_count,
            counts=counts,
            paid_amount=paid_amount,
            retryable_rows=retryable,
            runs=batch.runs,
            created_at=batch.created_at,
            updated_at=batch.updated_at,
        )

    def rows(
        self,
        merchant_id: str,
        batch_id: str,
        *,
        after: int = 0,
        limit: int = 100,
        status: str | None = None,
    ) -> list[RowOutcome]:
        """Rows in file order after position `after` (the previous page's last position)."""
        if not 0 < limit <= ROWS_PAGE_MAX:
            raise Rejected("limit_out_of_range", f"limit is 1 to {ROWS_PAGE_MAX}")
        self.summary(merchant_id, batch_id)  # batch_not_found for another merchant's batch
        with self._engine.connect() as conn:
            found = store.list_rows(
                conn, merchant_id, batch_id, after_position=after, limit=limit, status=status
            )
        return self._notes.opened(merchant_id, batch_id, found)

    def result_csv(self, merchant_id: str, batch_id: str) -> Iterator[str]:
        """The result file, a page of rows at a time: each row's outcome and transfer id."""
        self.summary(merchant_id, batch_id)
        yield csv_line(list(RESULT_COLUMNS))
        after = 0
        while True:
            page = self.rows(merchant_id, batch_id, after=after, limit=ROWS_PAGE_MAX)
            for row in page:
                yield csv_line(result_line(row))
            if len(page) < ROWS_PAGE_MAX:
                return
            after = page[-1].position


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
