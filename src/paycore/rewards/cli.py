"""`paycore rewards ...`: reward budgets and batch payouts from a terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from paycore import strict_json
from paycore.commands import console, open_runtime, print_json, refuse
from paycore.errors import Rejected
from paycore.money import format_minor
from paycore.rewards.files import BatchFile, csv_file, json_file
from paycore.rewards.model import BATCH_FILE_BYTES_MAX, BatchSummary
from paycore.rewards.views import batch_view, budget_view

rewards_app = typer.Typer(help="Cash rewards (现金奖励).", no_args_is_help=True)
Merchant = Annotated[str, typer.Option("--merchant", help="merchant id (mch_...)")]
BudgetId = Annotated[str, typer.Option("--budget", help="the budget's id")]
Amount = Annotated[int, typer.Option(min=1, help="minor units")]


@rewards_app.command("budget-create")
def budget_create(
    budget: BudgetId,
    merchant: Merchant,
    name: Annotated[str, typer.Option(help="what the budget is for")],
    row_max: Annotated[int, typer.Option(min=1, help="one row pays at most this (minor)")],
    recipient_max: Annotated[
        int, typer.Option(min=1, help="one recipient gets at most this from the budget (minor)")
    ],
    currency: Annotated[str, typer.Option(help="ISO 4217 code")] = "CNY",
) -> None:
    """Create a reward budget (again with the same terms: no change)."""
    with open_runtime(channels=False) as rt:
        created = rt.rewards.create_budget(
            merchant,
            budget,
            name=name,
            currency=currency,
            row_amount_max=row_max,
            recipient_total_max=recipient_max,
        )
        print_json(budget_view(created))


@rewards_app.command("budgets")
def budgets(merchant: Merchant) -> None:
    """A merchant's budgets and their balances."""
    with open_runtime(channels=False) as rt:
        found = rt.rewards.list_budgets(merchant)
    table = Table(title=f"reward budgets of {merchant}")
    for column in ("budget", "name", "balance", "funded", "spent", "row max", "recipient max"):
        table.add_column(column, justify="left" if column in ("budget", "name") else "right")
    for b in found:
        c = b.budget.currency
        table.add_row(
            b.budget.id,
            b.budget.name,
            format_minor(b.balance, c),
            format_minor(b.funded, c),
            format_minor(b.spent, c),
            format_minor(b.budget.row_amount_max, c),
            format_minor(b.budget.recipient_total_max, c),
        )
    console.print(table)


@rewards_app.command("fund")
def fund(
    budget: BudgetId,
    merchant: Merchant,
    amount: Amount,
    reference: Annotated[str, typer.Option(help="idempotency: the same reference funds once")],
) -> None:
    """Move money from the merchant's wallet to the budget."""
    with open_runtime(channels=False) as rt:
        transfer_id = rt.rewards.fund(merchant, budget, amount=amount, reference=reference)
        print_json(
            {
                "transfer_id": transfer_id,
                "budget": budget_view(rt.rewards.get_budget(merchant, budget)),
            }
        )


@rewards_app.command("pay")
def pay(
    file: Annotated[
        Path, typer.Argument(help="CSV (recipient,amount[,currency,note,row]) or JSON")
    ],
    budget: BudgetId,
    merchant: Merchant,
    batch: Annotated[str, typer.Option("--batch", help="your id of this batch: re-runs use it")],
    result: Annotated[
        Path | None, typer.Option(help="write each row's outcome to this CSV")
    ] = None,
) -> None:
    """Pay a batch; running it again with the same file retries only its failed rows."""
    source = _read_source(file)
    with open_runtime(channels=False) as rt:
        with Progress(
            TextColumn("[bold]paying {task.fields[batch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("pay", total=None, batch=batch)
            summary = rt.rewards.pay(
                merchant,
                budget_id=budget,
                batch_id=batch,
                source=source,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        if result is not None:
            with result.open("w", encoding="utf-8", newline="") as out:
                out.writelines(rt.rewards.result_csv(merchant, batch))
    _print_summary(summary)
    if result is not None:
        console.print(f"result file: {result}")


def _read_source(file: Path) -> BatchFile:
    try:
        if file.stat().st_size > BATCH_FILE_BYTES_MAX:
            raise refuse(
                "batch_too_large", f"a batch file has at most {BATCH_FILE_BYTES_MAX} bytes"
            )
        content = file.read_bytes()
    except OSError as error:
        raise refuse("file_unreadable", f"{file}: {error.strerror}") from None
    try:
        if file.suffix.lower() == ".json":
            try:
                return json_file(strict_json.loads(content))
            except strict_json.MalformedJson as error:
                raise Rejected("invalid_file", f"{file} is not JSON: {error.detail}") from None
        return csv_file(content)
    except Rejected as error:
        raise refuse(error.code, error.detail) from None


@rewards_app.command("show")
def show(
    batch: Annotated[str, typer.Argument(help="the batch id")],
    merchant: Merchant,
    as_json: Annotated[bool, typer.Option("--json", help="the summary as JSON")] = False,
) -> None:
    """A batch's summary: rows per outcome and the amount paid."""
    with open_runtime(channels=False) as rt:
        summary = rt.rewards.summary(merchant, batch)
    if as_json:
        print_json(batch_view(summary))
    else:
        _print_summary(summary)


def _print_summary(summary: BatchSummary) -> None:
    table = Table(title=f"batch {summary.id} (budget {summary.budget_id}, run {summary.runs})")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    for status in ("paid", "failed", "invalid", "pending"):
        table.add_row(status, f"{summary.counts.get(status, 0):,}")
    table.add_row("paid amount", format_minor(summary.paid_amount, summary.currency))
    table.add_row("retryable", f"{summary.retryable_rows:,} (run the same batch again)")
    console.print(table)
