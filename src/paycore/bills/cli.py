"""`paycore bills`: statements, their proof against the journal, day and month close."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from paycore.bills import cli_export, cli_page
from paycore.bills.proof import CheckReport
from paycore.bills.views import plain, statement_view
from paycore.commands import console, err, open_runtime, print_json, refuse

bills_app = typer.Typer(help="Merchant statements, bills and exports.", no_args_is_help=True)

Month = Annotated[str, typer.Option("--month", help="YYYY-MM, in China Standard Time")]


@bills_app.command("statement")
def statement(
    merchant: Annotated[str, typer.Option("--merchant", help="merchant id")],
    period: Annotated[str, typer.Option("--period", help="YYYY-MM or YYYY-MM-DD")],
    owner: Annotated[str | None, typer.Option("--owner", help="one wallet owner's")] = None,
) -> None:
    """A merchant's statement of a month or a day, as JSON."""
    with open_runtime(channels=False) as rt:
        found = rt.bills.statement(merchant, period, owner)
    print_json(statement_view(found))


@bills_app.command("close-days")
def close_days(
    until: Annotated[str | None, typer.Option("--until", help="last day, YYYY-MM-DD")] = None,
) -> None:
    """Roll up every finished bill day not closed yet (what the server's worker does)."""
    last = _day(until) if until else None
    with open_runtime(channels=False) as rt:
        closed = rt.bills.close_days(until=last)
    print_json({"closed": [d.isoformat() for d in closed]})


@bills_app.command("close-month")
def close_month(month: Month) -> None:
    """Seal every merchant's statement of a finished month (again: nothing changes)."""
    with open_runtime(channels=False) as rt:
        sealed = rt.bills.close_month(month)
    print_json({"month": month, "sealed": sealed})


@bills_app.command("check")
def check(
    month: Month,
    merchant: Annotated[str | None, typer.Option("--merchant", help="one merchant only")] = None,
) -> None:
    """Prove every statement of the month against the journal; exit 1 on a mismatch."""
    with open_runtime(channels=False) as rt:
        report = rt.bills.check(month, merchant)
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@bills_app.command("verify-seal")
def verify_seal(
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: all)")] = None,
) -> None:
    """Recompute every sealed hash and its chain; exit 1 if one does not match."""
    with open_runtime(channels=False) as rt:
        problems = rt.bills.verify_seals(month)
    print_json(plain({"ok": not problems, "problems": [p.__dict__ for p in problems]}))
    if problems:
        raise typer.Exit(1)


def _print_report(report: CheckReport) -> None:
    table = Table(title=f"bills check {report.month}")
    for column in ("merchant", "account", "opening", "adj", "movements", "closing", "ledger"):
        table.add_column(column, justify="left" if column in ("merchant", "account") else "right")
    table.add_column("result")
    for row in report.rows:
        result = "[green]ok[/green]" if row.ok else f"[red]{escape('; '.join(row.problems))}[/red]"
        table.add_row(
            escape(row.merchant_id),
            escape(row.account_id),
            f"{row.opening:,}",
            f"{row.adjustment:,}",
            f"{row.movements:,}",
            f"{row.closing:,}",
            f"{row.ledger:,}",
            result,
        )
    console.print(table)
    for row in report.failures:  # one line each, whatever the terminal's width
        problems = escape("; ".join(row.problems))
        err.print(
            f"[red]mismatch[/red] {escape(row.merchant_id)} {escape(row.account_id)}: {problems}"
        )
    for seal in report.seals:
        err.print(f"[red]seal[/red] {escape(seal.merchant_id)} {seal.month}: {seal.problem}")
    failed = len(report.failures)
    summary = f"{len(report.rows)} accounts, {failed} failed, {len(report.seals)} bad seals"
    (console if report.ok else err).print(summary)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise refuse("invalid_date", f"{text!r} is not YYYY-MM-DD") from None


cli_page.register(bills_app)
cli_export.register(bills_app)
