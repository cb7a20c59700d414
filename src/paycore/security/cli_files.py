"""`paycore security purge [--dry-run]`: remove kept files past their retention.

Exit codes: 0 done, 2 refused (an invalid PAYCORE_FILE_RETENTION_DAYS)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from paycore.commands import console, open_runtime
from paycore.security.retention import DEFAULT_DAYS, retention_for

files_app = typer.Typer(help="Files kept at rest: retention.", no_args_is_help=True)


@files_app.callback()
def files() -> None:
    """Files kept at rest (statements, bank files, exports): encrypted, purged in time."""


@files_app.command("purge")
def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
) -> None:
    """Remove statements, bank files and exports older than their retention."""
    with open_runtime(channels=True) as rt:
        retention = retention_for(rt.settings, rt.channels.registry, clock=rt.clock)
        done = retention.purge(dry_run=dry_run)
        days = {rule.kind: rule.days for rule in retention.rules}
    verb = "would remove" if dry_run else "removed"
    table = Table(title=f"file retention ({verb})")
    for column in ("kind", "kept days", "files", "bytes"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind in DEFAULT_DAYS:
        table.add_row(
            kind,
            str(days.get(kind, DEFAULT_DAYS[kind])),
            str(done.removed.get(kind, 0)),
            str(done.bytes_by_kind.get(kind, 0)),
        )
    console.print(table)
    if dry_run:
        for path in done.paths:
            console.print(str(path), highlight=False, markup=False)
