"""`paycore security encrypt-backfill`: seal the C2 values kept in clear before 0028-0030.

Resumable: the work left is the rows whose clear column still holds a value, so a run
stopped (`--pages`, a kill) continues where it stopped. `--check` only counts what is left.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security.blind import load_blind_indexer
from paycore.security.columns_backfill import PAGE_SIZE_DEFAULT, EncryptBackfill
from paycore.security.crypto import load_field_cipher

columns_app = typer.Typer(help="Encrypt C2 columns written in clear before migrations 0028-0030.")
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@columns_app.command("encrypt-backfill")
def encrypt_backfill(
    page_size: Annotated[int, typer.Option(help="rows per transaction")] = PAGE_SIZE_DEFAULT,
    pages: Annotated[int | None, typer.Option(help="stop after this many pages")] = None,
    check: Annotated[bool, typer.Option(help="only count the rows left in clear")] = False,
) -> None:
    """Seal custody virtual accounts, recon line accounts, reward notes, idempotent answers
    and event payloads still in clear, and empty their clear columns (exit 1 when rows are
    left; once migration 0032 dropped them there is nothing left)."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        cipher = load_field_cipher(settings).bind(engine)
        indexer = load_blind_indexer(settings.blind_index_key, Path(settings.data_dir))
        job = EncryptBackfill(engine, cipher, indexer)
        sealed = {} if check else job.run(page_size=page_size, pages=pages)
        left = job.remaining()
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if not left:
        out.print("nothing left: the clear columns are dropped (migration 0032)")
        return
    table = Table("column", "sealed now", "left in clear")
    for name, count in left.items():
        table.add_row(name, str(sealed.get(name, 0)), str(count))
    out.print(table)
    if any(left.values()):
        out.print("rows left in clear: run again to resume")
        raise typer.Exit(1)
    out.print("done: no C2 value of these columns is left in clear")
