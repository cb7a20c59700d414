"""`paycore bills export` and `paycore bills query`: a merchant's orders, transfers and
statement lines to a CSV/XLSX file (with a progress bar) or as a table on the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from paycore.bills.exports import Format, write_file
from paycore.bills.queries import COLUMNS, BillQueries, What, filters_of
from paycore.bills.query_model import Filters
from paycore.commands import console, open_runtime

Merchant = Annotated[str, typer.Option("--merchant", help="merchant id (mch_...)")]
WhatOption = Annotated[What, typer.Option("--what", help="orders, transfers or lines")]
Month = Annotated[str | None, typer.Option(help="YYYY-MM, in Asia/Shanghai")]
Day = Annotated[str | None, typer.Option(help="YYYY-MM-DD, in Asia/Shanghai")]
From = Annotated[str | None, typer.Option("--from", help="first day YYYY-MM-DD")]
To = Annotated[str | None, typer.Option("--to", help="last day YYYY-MM-DD")]
Filter = Annotated[str | None, typer.Option()]


_SHOWN = {
    What.ORDERS: ("id", "bill_date", "kind", "product", "channel", "status", "amount_minor",
                  "currency"),
    What.TRANSFERS: ("id", "bill_date", "direction", "category", "counterparty", "status",
                     "amount_minor", "currency"),
    What.LINES: ("account_id", "line", "product", "channel", "amount_minor", "amount_in_minor",
                 "amount_out_minor", "count"),
}  # fmt: skip
"""The columns a terminal table has room for; the export holds them all (`COLUMNS`)."""


def register(app: typer.Typer) -> None:
    """Add this file's commands to `paycore bills`."""
    app.command("export")(export)
    app.command("query")(query)


def export(
    merchant: Merchant,
    out: Annotated[Path, typer.Option("--out", help="the file to write")],
    what: WhatOption = What.ORDERS,
    fmt: Annotated[Format, typer.Option("--format", help="csv or xlsx")] = Format.CSV,
    month: Month = None,
    day: Day = None,
    date_from: From = None,
    date_to: To = None,
    product: Filter = None,
    channel: Filter = None,
    status: Filter = None,
    counterparty: Filter = None,
    kind: Filter = None,
    owner: Filter = None,
) -> None:
    """Write a merchant's orders, transfers or statement lines to a CSV or XLSX file,
    row by row (memory stays flat however large the month)."""
    filters = _filters(
        month, day, date_from, date_to, product, channel, status, counterparty, kind, owner
    )
    with open_runtime(channels=False) as rt:
        queries = BillQueries(rt.bills)
        total = queries.count(what, merchant, filters, cap=None)
        with Progress(
            TextColumn(f"[bold]{escape(what.value)} of {escape(merchant)}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("export", total=total)
            written = write_file(
                queries.rows(what, merchant, filters),
                COLUMNS[what],
                out,
                fmt,
                sheet=what.value,
                progress=lambda done: bar.update(task, completed=done),
            )
    console.print(f"{written} rows → {escape(str(out))}")


def query(
    merchant: Merchant,
    what: WhatOption = What.ORDERS,
    month: Month = None,
    day: Day = None,
    date_from: From = None,
    date_to: To = None,
    product: Filter = None,
    channel: Filter = None,
    status: Filter = None,
    counterparty: Filter = None,
    kind: Filter = None,
    owner: Filter = None,
    after: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """One page of a merchant's orders, transfers or statement lines, as a table; the
    cursor of the next page is printed under it."""
    filters = _filters(
        month, day, date_from, date_to, product, channel, status, counterparty, kind, owner
    )
    with open_runtime(channels=False) as rt:
        page = BillQueries(rt.bills).page(what, merchant, filters, after=after, limit=limit)
    table = Table(title=f"{what.value} of {escape(merchant)}")
    columns = _SHOWN[what]
    for name in columns:
        numeric = name.endswith("_minor") or name in ("count", "code")
        table.add_column(name, justify="right" if numeric else "left")
    for row in page.rows:
        table.add_row(*(escape("" if row[c] is None else str(row[c])) for c in columns))
    console.print(table)
    console.print(f"next_cursor: {page.next_cursor or '-'}")


def _filters(
    month: str | None,
    day: str | None,
    date_from: str | None,
    date_to: str | None,
    product: str | None,
    channel: str | None,
    status: str | None,
    counterparty: str | None,
    kind: str | None,
    owner: str | None,
) -> Filters:
    """The commands' filter options under the names the queries know (`from`, `to`)."""
    return filters_of(
        {
            "month": month,
            "day": day,
            "from": date_from,
            "to": date_to,
            "product": product,
            "channel": channel,
            "status": status,
            "counterparty": counterparty,
            "kind": kind,
            "owner": owner,
        }
    )
