"""Reading reward batches: a batch's summary, its rows a page at a time, and its result
file (each row's outcome and transfer id, without the merchant's note)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine

from paycore.errors import Rejected
from paycore.rewards import store
from paycore.rewards.files import RESULT_COLUMNS, csv_line, result_line
from paycore.rewards.model import ROWS_PAGE_MAX, BatchSummary, RowOutcome, RowStatus
from paycore.rewards.notes import RewardNotes


class BatchResults:
    def __init__(self, *, engine: Engine, notes: RewardNotes) -> None:
        self._engine = engine
        self._notes = notes

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
        """The result file, a page of rows at a time: each row's outcome and transfer id.
        Rows are read as stored, their notes left sealed: the file has no note column."""
        self.summary(merchant_id, batch_id)
        yield csv_line(list(RESULT_COLUMNS))
        after = 0
        while True:
            with self._engine.connect() as conn:
                page = store.list_rows(
                    conn, merchant_id, batch_id, after_position=after, limit=ROWS_PAGE_MAX
                )
            for row, _sealed_note in page:
                yield csv_line(result_line(row))
            if len(page) < ROWS_PAGE_MAX:
                return
            after = page[-1][0].position
