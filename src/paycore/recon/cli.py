"""`paycore recon ...`: import statements, run a day's matching, list and resolve breaks."""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from paycore.clock import date_problem
from paycore.commands import console, err, open_runtime, print_json, refuse
from paycore.money import format_minor
from paycore.recon.breaks import Adjustment
from paycore.recon.service import BREAKS_PAGE_MAX
from paycore.recon.views import break_view, import_view, view

if TYPE_CHECKING:
    pass

recon_app = typer.Typer(
    help="Reconciliation: statements against payment orders, and the breaks.",
    no_args_is_help=True,
)
Source = Annotated[str, typer.Option("--source", help="the channel or bank the statement is of")]


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@recon_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    format: Annotated[
        str, typer.Option("--format", help="sandbox_csv, camt052, camt053, camt054, alipay, wechat")
    ],
    source: Source,
) -> None:
    """Import one statement file (the same file again: the earlier import, nothing added)."""
    with open_runtime(channels=False) as rt, _progress() as bar:
        task = bar.add_task(f"importing {file.name}", total=None)
        found, created = rt.recon.import_file(
            file,
            format=format,
            source=source,
            progress=lambda lines: bar.update(task, completed=lines),
        )
    shown = import_view(found)
    for warning in shown["warnings"]:
        err.print(f"[yellow]warning[/yellow] {escape(warning)}", highlight=False)
    if found.get("warning_count", 0) > len(shown["warnings"]):
        err.print(f"[yellow]warning[/yellow] ... {found['warning_count']} in all")
    print_json({**shown, "created": created})


@recon_app.command("run")
def run(
    source: Source,
    day: Annotated[str, typer.Option("--date", help="business day, YYYY-MM-DD (Asia/Shanghai)")],
) -> None:
    """Match one source's statement lines of a day against payment orders."""
    try:
        business_date = date.fromisoformat(day)
    except ValueError:
        raise refuse("invalid_date", f"{day!r} is not YYYY-MM-DD") from None
    if (problem := date_problem(business_date)) is not None:
        raise refuse("date_out_of_range", problem)
    with open_runtime(channels=False) as rt, _progress() as bar:
        task = bar.add_task(f"matching {source} {business_date}", total=2)
        found = rt.recon.run(
            source=source,
            business_date=business_date,
            progress=lambda step: bar.update(task, completed=step),
        )
    print_json(view(found))


@recon_app.command("breaks")
def list_breaks(
    status: Annotated[str | None, typer.Option(help="open, investigating or resolved")] = None,
    type: Annotated[str | None, typer.Option(help="e.g. amount_mismatch")] = None,
    source: Annotated[str | None, typer.Option(help="one channel or bank")] = None,
    limit: Annotated[int, typer.Option(min=1, max=BREAKS_PAGE_MAX)] = 50,
) -> None:
    """Breaks, oldest first."""
    with open_runtime(channels=False) as rt:
        rows = rt.recon.list_breaks(status=status, type_=type, source=source, limit=limit)
    table = Table(title=f"{len(rows)} breaks")
    for column in ("id", "type", "status", "source", "day", "order", "line", "amount"):
        table.add_column(column, justify="right" if column in ("id", "amount") else "left")
    for b in rows:
        amount = b["line_amount"] if b["line_amount"] is not None else b["order_amount"]
        line = f"{b['import_id']}:{b['line_no']}" if b["import_id"] else ""
        table.add_row(
            str(b["id"]),
            b["type"],
            b["status"],
            b["source"],
            b["business_date"].isoformat(),
            b["order_id"] or "",
            line,
            format_minor(amount, b["currency"]) if amount is not None else "",
        )
    console.print(table)


@recon_app.command("investigate")
def investigate(
    break_id: Annotated[int, typer.Argument(help="the break's id")],
    note: Annotated[str, typer.Option(help="what is being looked at")] = "",
) -> None:
    """Mark a break as being investigated."""
    with open_runtime(channels=False) as rt:
        found = rt.recon.investigate(break_id, actor=_actor(), note=note)
    print_json(break_view(found))


@recon_app.command("resolve")
def resolve(
    break_id: Annotated[int, typer.Argument(help="the break's id")],
    note: Annotated[str, typer.Option(help="how it was resolved (required)")],
    adjust_debit: Annotated[str | None, typer.Option(help="adjustment: debit account")] = None,
    adjust_credit: Annotated[str | None, typer.Option(help="adjustment: credit account")] = None,
    amount: Annotated[int | None, typer.Option(help="adjustment amount, minor units")] = None,
) -> None:
    """Resolve a break, with an optional ledger adjustment (posted once)."""
    parts = (adjust_debit, adjust_credit, amount)
    adjustment = None
    if any(p is not None for p in parts):
        if adjust_debit is None or adjust_credit is None or amount is None:
            raise refuse(
                "incomplete_adjustment", "give --adjust-debit, --adjust-credit and --amount"
            )
        adjustment = Adjustment(adjust_debit, adjust_credit, amount)
    with open_runtime(channels=False) as rt:
        found = rt.recon.resolve(break_id, actor=_actor(), note=note, adjustment=adjustment)
    print_json(break_view(found))


def _actor() -> str:
    """Who acted, for the audit trail: the operator's login on this machine."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
