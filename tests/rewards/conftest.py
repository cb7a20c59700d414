"""A merchant with 1,000,000.00 CNY in its wallet, a reward budget and recipients' wallets."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from paycore.rewards.files import csv_file
from paycore.rewards.model import BatchSummary, BudgetBalance
from paycore.rewards.service import Rewards
from paycore.runtime import Runtime
from tests.payments.conftest import fund_merchant

MERCHANT_FUNDS = 100_000_000


@dataclass
class Shop:
    runtime: Runtime
    merchant_id: str

    @property
    def rewards(self) -> Rewards:
        return self.runtime.rewards

    def budget(
        self,
        budget_id: str = "spring",
        *,
        funded: int = 0,
        row_amount_max: int = 50_000,
        recipient_total_max: int = 80_000,
    ) -> BudgetBalance:
        self.rewards.create_budget(
            self.merchant_id,
            budget_id,
            name="Spring campaign",
            currency="CNY",
            row_amount_max=row_amount_max,
            recipient_total_max=recipient_total_max,
        )
        if funded:
            self.fund(budget_id, funded)
        return self.rewards.get_budget(self.merchant_id, budget_id)

    def fund(self, budget_id: str, amount: int, reference: str | None = None) -> None:
        reference = reference or f"fund-{budget_id}-{amount}-{self.balance(budget_id)}"
        self.rewards.fund(self.merchant_id, budget_id, amount=amount, reference=reference)

    def balance(self, budget_id: str) -> int:
        return self.rewards.get_budget(self.merchant_id, budget_id).balance

    def open(self, *owners: str) -> None:
        for owner in owners:
            self.runtime.wallets.open(self.merchant_id, owner, "CNY")

    def wallet(self, owner: str) -> int:
        return self.runtime.wallets.get(self.merchant_id, owner, "CNY").balance

    def pay_csv(
        self, text: str, *, batch_id: str = "b1", budget_id: str = "spring"
    ) -> BatchSummary:
        return self.rewards.pay(
            self.merchant_id,
            budget_id=budget_id,
            batch_id=batch_id,
            source=csv_file(text.encode()),
        )


def new_shop(runtime: Runtime, name: str = "Bonus Co") -> Shop:
    merchant, _ = runtime.merchants.create(name=name, fee_bps=0)
    fund_merchant(runtime.ledger, merchant.id, MERCHANT_FUNDS)
    return Shop(runtime, merchant.id)


@pytest.fixture
def shop(runtime: Runtime) -> Shop:
    return new_shop(runtime)


def csv_of(rows: list[tuple[str, str]], *, header: str = "recipient,amount") -> str:
    return header + "\n" + "".join(f"{r},{a}\n" for r, a in rows)
