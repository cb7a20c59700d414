"""`paycore security lookup find|backfill`: the blind index from the command line.

`find` prints the objects holding a number (never the number); `backfill` indexes rows
written before the index (or before a new blind key), resumably, with progress.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from paycore.clock import SystemClock
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security.blind import load_blind_indexer
from paycore.security.blind_backfill import BACKFILL_PAGE_SIZE_DEFAULT, Backfill
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import load_field_cipher

lookup_app = typer.Typer(help="Find objects by a personal number (blind index).")
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@contextmanager
def open_blind_index() -> Iterator[tuple[BlindIndex, Settings]]:
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=2)
    key_text = settings.blind_index_key
    indexer = load_blind_indexer(str(key_text), Path(settings.data_dir))
    try:
        yield BlindIndex(engine, indexer, SystemClock()), settings
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


@lookup_app.command("find")
def find(
    card_number: Annotated[str | None, typer.Option(help="a bank card number")] = None,
    id_number: Annotated[str | None, typer.Option(help="a resident ID number")] = None,
    phone: Annotated[str | None, typer.Option(help="a mainland mobile number")] = None,
    account_number: Annotated[str | None, typer.Option(help="a bank account number")] = None,
    merchant: Annotated[str | None, typer.Option(help="only this merchant's objects")] = None,
) -> None:
    """The objects (type, id, merchant) holding a number; the number is never printed.
    An argument shows in `ps` and the shell's history: keep such shells' history off."""
    numbers = {
        "card_number": card_number,
        "id_number": id_number,
        "phone": phone,
        "account_number": account_number,
    }
    with open_blind_index() as (blind, _settings):
        hits = blind.find_any(numbers, merchant_id=merchant)
    table = Table("object_type", "object_id", "merchant_id")
    for hit in hits:
        table.add_row(hit.object_type, hit.object_id, hit.merchant_id or "-")
    out.print(table)
    out.print(f"{len(hits)} object(s)")


@lookup_app.command("backfill")
def backfill(
    page_size: Annotated[int, typer.Option(help="rows per transaction")] = (
        BACKFILL_PAGE_SIZE_DEFAULT
    ),
    pages: Annotated[int | None, typer.Option(help="stop after this many pages")] = None,
) -> None:
    """Index the numbers of rows written before the blind index (resumes where it stopped)."""
    with open_blind_index() as (blind, settings):
        job = Backfill(blind, load_field_cipher(settings).bind(blind.engine))
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(source: str, done: int, total: int) -> None:
                if source not in tasks:
                    tasks[source] = bar.add_task(source, total=total)
                bar.update(tasks[source], completed=done, total=max(total, done))

            result = job.run(page_size=page_size, pages_max=pages, progress=progress)
    table = Table("source", "rows", "tokens written", "unreadable")
    for source, counts in result.sources.items():
        table.add_row(source, str(counts.rows), str(counts.entries), str(counts.unreadable))
    out.print(table)
    out.print("done" if result.finished else "stopped early: run again to resume")
