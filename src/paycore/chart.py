"""The chart of accounts: every ledger `code` a slice uses, with its name and normal side.

Each slice owns its codes (next to the transfers that use them); this is the one place
that names them all, for the trial balance and finance. 1xxx assets and receivables
(debit-normal), 2xxx what we owe (credit-normal), 4xxx revenue (credit-normal).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from paycore.custody.bookkeeping import CODE_FUNDING, CODE_POOL, CODE_SUBACCOUNT
from paycore.ledger.service import TrialBalanceRow
from paycore.payments.bookkeeping import CODE_CLEARING, CODE_FEE, CODE_TRANSIT, CODE_WALLET
from paycore.rewards.model import CODE_REWARD_BUDGET
from paycore.split.bookkeeping import CODE_COMMISSION
from paycore.wallets.model import CODE_USER_RECEIVABLE, CODE_USER_WALLET

CODE_SUSPENSE = 2901
"""Money a channel or bank holds for us that no order explains yet (reconciliation)."""


@dataclass(frozen=True, slots=True)
class ChartEntry:
    code: int
    name: str
    debit_normal: bool


CHART: dict[int, ChartEntry] = {
    e.code: e
    for e in (
        ChartEntry(CODE_CLEARING, "channel clearing", True),
        ChartEntry(CODE_POOL, "custody pool", True),
        ChartEntry(CODE_FUNDING, "custody funding", False),
        ChartEntry(CODE_USER_RECEIVABLE, "user receivable", True),
        ChartEntry(CODE_WALLET, "merchant wallet", False),
        ChartEntry(CODE_USER_WALLET, "user wallet", False),
        ChartEntry(CODE_REWARD_BUDGET, "reward budget", False),
        ChartEntry(CODE_TRANSIT, "payouts in transit", False),
        ChartEntry(CODE_SUBACCOUNT, "custody sub-account", False),
        ChartEntry(CODE_SUSPENSE, "reconciliation suspense", False),
        ChartEntry(CODE_FEE, "fee revenue", False),
        ChartEntry(CODE_COMMISSION, "split commission revenue", False),
    )
}


def name_of(code: int) -> str:
    entry = CHART.get(code)
    return entry.name if entry else "unnamed"


TRIAL_BALANCE_COLUMNS = (
    "currency",
    "code",
    "name",
    "accounts",
    "debits_posted",
    "credits_posted",
    "debit_balance",
    "credit_balance",
    "debits_pending",
    "credits_pending",
)


def trial_balance_view(rows: Sequence[TrialBalanceRow]) -> list[dict[str, int | str]]:
    """The trial balance as finance reads it: each code's net balance on its side, and a
    total line per currency whose two sides must be equal."""
    view: list[dict[str, int | str]] = []
    for currency in sorted({r.currency for r in rows}):
        debit_total = credit_total = 0
        for r in (r for r in rows if r.currency == currency):
            debit, credit = max(r.balance, 0), max(-r.balance, 0)
            debit_total, credit_total = debit_total + debit, credit_total + credit
            view.append(
                {
                    "currency": currency,
                    "code": r.code,
                    "name": name_of(r.code),
                    "accounts": r.accounts,
                    "debits_posted": r.debits_posted,
                    "credits_posted": r.credits_posted,
                    "debit_balance": debit,
                    "credit_balance": credit,
                    "debits_pending": r.debits_pending,
                    "credits_pending": r.credits_pending,
                }
            )
        view.append(
            {
                "currency": currency,
                "code": "",
                "name": "total",
                "accounts": sum(r.accounts for r in rows if r.currency == currency),
                "debits_posted": sum(r.debits_posted for r in rows if r.currency == currency),
                "credits_posted": sum(r.credits_posted for r in rows if r.currency == currency),
                "debit_balance": debit_total,
                "credit_balance": credit_total,
                "debits_pending": sum(r.debits_pending for r in rows if r.currency == currency),
                "credits_pending": sum(r.credits_pending for r in rows if r.currency == currency),
            }
        )
    return view


def to_csv(view: Sequence[Mapping[str, int | str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TRIAL_BALANCE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(view)
    return out.getvalue()
