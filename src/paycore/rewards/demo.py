"""`paycore demo`'s rewards scene: a budget funded from the merchant's wallet pays a small
batch with one unknown recipient and one bad amount, then runs it again (nothing moves)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from paycore import ids
from paycore.money import format_minor
from paycore.payments import bookkeeping as books
from paycore.rewards.files import csv_file
from paycore.runtime import Runtime

BUDGET_ID = "demo-bonus"
RECIPIENTS = ("winner-1", "winner-2", "winner-3")
FUNDING = 3_000  # 30.00 CNY, or what the merchant has if less


def show(runtime: Runtime, console: Console, merchant_id: str) -> None:
    rewards = runtime.rewards
    wallet = runtime.ledger.get_account(books.wallet_account(merchant_id, "CNY"))
    available = wallet.available if wallet is not None else 0
    if available <= 0:
        console.print(f"rewards: {merchant_id} has no CNY to fund a budget yet")
        return
    rewards.create_budget(
        merchant_id,
        BUDGET_ID,
        name="Demo referral bonus",
        currency="CNY",
        row_amount_max=1_000,
        recipient_total_max=5_000,
    )
    run = ids.new_id("demo")
    rewards.fund(merchant_id, BUDGET_ID, amount=min(FUNDING, available), reference=run)
    for owner in RECIPIENTS:
        runtime.wallets.open(merchant_id, owner, "CNY")
    text = "recipient,amount,note\nwinner-1,500,first\nwinner-2,300,second\nnobody,200,\n"
    text += "winner-3,1.5,typo\nwinner-3,5000,too much\nwinner-3,100,third\n"
    source = csv_file(text.encode())
    rewards.pay(merchant_id, budget_id=BUDGET_ID, batch_id=run, source=source)
    summary = rewards.pay(merchant_id, budget_id=BUDGET_ID, batch_id=run, source=source)
    table = Table(title=f"rewards batch {run} of {merchant_id} (run twice: paid once)")
    for column in ("row", "recipient", "amount", "status", "reason"):
        table.add_column(column)
    for row in rewards.rows(merchant_id, run):
        amount = format_minor(row.amount, "CNY") if row.amount is not None else row.amount_text
        table.add_row(str(row.row), row.recipient, amount, row.status, row.reason or "")
    console.print(table)
    budget = rewards.get_budget(merchant_id, BUDGET_ID)
    console.print(
        f"paid {format_minor(summary.paid_amount, 'CNY')} in {summary.runs} runs; "
        f"budget {BUDGET_ID} has {format_minor(budget.balance, 'CNY')} left"
    )
