"""Cash rewards (现金奖励) use cases: budgets, funding, and batch payouts to many recipients.

A batch is idempotent by (merchant, batch id): its rows and each row's outcome are stored
the first time; a re-run of the same file only retries rows that failed for a reason that
may pass later (`budget_exhausted`), each with a new attempt number and so a new transfer
id, since the ledger remembers a failed id. A paid row keeps its transfer id forever.

`Rewards` is the slice's one entry point; the work is split by responsibility:
budgets.py (budgets and the money moved in and out of them), batches.py (validating,
storing and paying a batch), results.py (a batch's summary, rows and result file).
"""

from __future__ import annotations

from sqlalchemy import Engine

from paycore.clock import Clock
from paycore.ledger.service import Ledger
from paycore.rewards.batches import BatchRuns, Progress
from paycore.rewards.budgets import Budgets
from paycore.rewards.notes import RewardNotes
from paycore.rewards.results import BatchResults
from paycore.security.crypto import FieldCipher

__all__ = ["Progress", "Rewards"]


class Rewards:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        cipher: FieldCipher | None = None,
    ) -> None:
        notes = RewardNotes(cipher)
        self.budgets = Budgets(engine=engine, ledger=ledger, clock=clock)
        self.results = BatchResults(engine=engine, notes=notes)
        self.runs = BatchRuns(
            engine=engine,
            ledger=ledger,
            clock=clock,
            notes=notes,
            budgets=self.budgets,
            results=self.results,
        )
        # The use cases callers know `Rewards` by, each bound to the part that owns it.
        self.create_budget = self.budgets.create_budget
        self.get_budget = self.budgets.get_budget
        self.list_budgets = self.budgets.list_budgets
        self.fund = self.budgets.fund
        self.withdraw = self.budgets.withdraw
        self.pay = self.runs.pay
        self.summary = self.results.summary
        self.rows = self.results.rows
        self.result_csv = self.results.result_csv

    def tick(self) -> None:
        """Periodic work: none. A batch runs when its merchant starts (or re-runs) it."""
