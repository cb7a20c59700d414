"""`paycore security inventory [--json]`: how much personal data is classified and how it
is protected at rest. A report: it always exits 0, whatever the coverage."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paycore.security.classification import AtRest, Field
from paycore.security.inventory import (
    GOAL_C2_ENCRYPTED,
    SEED_FIGURE,
    Inventory,
    inventory,
    percent,
    to_json,
)

security_app = typer.Typer(help="Personal data protection (JR/T 0171-2020).", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 160)


@security_app.callback()
def _group() -> None:
    """Keeps `security` a group of commands even while it holds only one."""


@security_app.command("inventory")
def inventory_command(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
) -> None:
    """Coverage per class: classified, encrypted, masked, blind-indexed, hashed, clear."""
    found = inventory()
    if as_json:
        typer.echo(json.dumps(to_json(found), indent=2))
        return
    out.print(_levels_table(found))
    out.print(
        f"C2 encrypted at rest: [bold]{percent(found.c2_encrypted_share)}[/bold]"
        f" ({found.c2_encrypted} of {found.c2_full_value} C2 fields that keep a full value;"
        f" {percent(found.c2_encrypted_share_of_all)} of all {found.c2_total} C2 fields)."
        f" Goal {percent(GOAL_C2_ENCRYPTED)}. The seed reported {SEED_FIGURE}."
    )
    out.print("Counted one per table column and one per field of a file kind paycore writes.")
    if found.c2_in_clear:
        out.print(_fields_table("C2 still in clear", found.c2_in_clear))
    if found.c2_frozen:
        title = "C2 frozen: clear only in immutable records from before it was sealed"
        out.print(_fields_table(title, found.c2_frozen))
    if found.c3_in_clear:
        out.print(_fields_table("C3 in clear (defects)", found.c3_in_clear, style="red"))


def _levels_table(found: Inventory) -> Table:
    table = Table(title="Personal data at rest, by JR/T 0171-2020 class")
    table.add_column("class")
    for name in ("classified", "columns", "file fields", *(p.value for p in AtRest)):
        table.add_column(name.replace("_", "-"), justify="right")
    for level in found.levels:
        table.add_row(
            level.level.value,
            str(level.classified),
            str(level.columns),
            str(level.file_fields),
            *(str(level.by_protection[p]) for p in AtRest),
        )
    return table


def _fields_table(title: str, fields: tuple[Field, ...], *, style: str = "yellow") -> Table:
    table = Table(title=title, title_style=style)
    for name in ("field", "holds", "written by"):
        table.add_column(name)
    for field in fields:
        table.add_row(field.key, field.holds, field.written_by)
    return table
