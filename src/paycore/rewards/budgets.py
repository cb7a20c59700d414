"""Reward budgets: a budget is a ledger account the merchant funds from their wallet and
withdraws what is left back to it; each move is idempotent by the merchant's reference."""

from __future__ import annotations

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
from paycore.rewards.model import (
    CODE_REWARD_BUDGET,
    REASON_BUDGET_FUND,
    REASON_BUDGET_WITHDRAW,
    Budget,
    BudgetBalance,
    budget_account,
    check_name,
    fund_transfer_id,
    withdraw_transfer_id,
)
from paycore.security.masking import redact_personal_numbers


class Budgets:
    def __init__(self, *, engine: Engine, ledger: Ledger, clock: Clock) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock

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

    def budget(self, merchant_id: str, budget_id: str) -> Budget:
        """The merchant's budget, else `budget_not_found`."""
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
        return self._balance(self.budget(merchant_id, budget_id))

    def list_budgets(self, merchant_id: str) -> list[BudgetBalance]:
        with self._engine.connect() as conn:
            found = store.list_budgets(conn, merchant_id, limits.ACCOUNTS_PAGE_MAX)
        return [self._balance(b) for b in found]

    def fund(self, merchant_id: str, budget_id: str, *, amount: int, reference: str) -> str:
        """Merchant wallet → budget; idempotent by `reference` (the same one moves money once)."""
        budget = self.budget(merchant_id, budget_id)
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
        budget = self.budget(merchant_id, budget_id)
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
