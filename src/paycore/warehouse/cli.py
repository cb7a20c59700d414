"""`paycore warehouse export | status | schemas`: the Parquet warehouse.

Exit codes: 0 done; 2 refused (an unknown table, a bad date); 1 some table was busy (an
export of it already running on this machine).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from paycore.clock import check_date
from paycore.commands import console, err, open_runtime, refuse
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.warehouse.docs import schema_markdown
from paycore.warehouse.service import TableResult, TableStatus, WarehouseExport

warehouse_app = typer.Typer(
    help="The Parquet warehouse: incremental export, its state, its tables.",
    no_args_is_help=True,
)


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        if len(value) == 10:  # fromisoformat alone takes 20261130 and 2026-W49-1 too
            day = date.fromisoformat(value)
            check_date(day, field="--until")
            return day
    except ValueError:
        pass
    except Rejected as error:
        raise refuse(error.code, error.detail) from None
    raise refuse("invalid_date", f"--until {value!r}: a date is YYYY-MM-DD")


@warehouse_app.command("export")
def export(
    until: Annotated[
        str | None, typer.Option(help="export up to the end of this business day, YYYY-MM-DD")
    ] = None,
    table: Annotated[
        list[str] | None, typer.Option("--table", help="only this table (repeatable)")
    ] = None,
) -> None:
    """Export every table's changes since its watermark (a re-run with nothing new writes
    nothing)."""
    day = _day(until)
    settings = Settings.from_env()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    try:
        with open_runtime(channels=False) as rt, Progress(*columns, console=err) as progress:
            exporter = WarehouseExport.for_runtime(rt)
            tasks: dict[str, TaskID] = {}

            def shown(name: str, rows: int) -> None:
                if name not in tasks:
                    tasks[name] = progress.add_task(name)
                progress.update(tasks[name], description=f"{name}: {rows:,} rows")

            results = exporter.export(until=day, tables=table or (), progress=shown)
    except Rejected as error:
        raise refuse(error.code, error.detail) from None
    _print_results(results, str(settings.warehouse_path()))
    if any(r.status == "busy" for r in results):
        raise typer.Exit(1)


def _print_results(results: list[TableResult], root: str) -> None:
    out = Table(
        "table",
        "status",
        Column("rows", justify="right"),
        Column("files written", justify="right"),
        title=f"warehouse export to {root}",
    )
    for r in results:
        out.add_row(r.table, r.status, f"{r.rows:,}", str(r.files))
    console.print(out)


@warehouse_app.command("status")
def status() -> None:
    """Per table: its watermark, its files and rows (from the Parquet footers), last run."""
    settings = Settings.from_env()
    with open_runtime(channels=False) as rt:
        found = WarehouseExport.for_runtime(rt).status()
    _print_status(found, str(settings.warehouse_path()))


def _print_status(found: list[TableStatus], root: str) -> None:
    out = Table(
        "table",
        "version",
        "mode",
        "watermark",
        Column("files", justify="right"),
        Column("rows", justify="right"),
        "last run",
        title=f"warehouse {root}",
    )
    for s in found:
        run = s.last_run
        last = "-"
        if run is not None:
            last = f"{run.status} {run.started_at:%Y-%m-%d %H:%M:%S} {run.rows:,} rows"
        out.add_row(s.table, f"v{s.version}", s.mode, s.position, str(s.files), f"{s.rows:,}", last)
    console.print(out)


@warehouse_app.command("schemas")
def schemas() -> None:
    """Every table's columns, key, mode and partition, as Markdown (the README's part)."""
    typer.echo(schema_markdown(), nl=False)
