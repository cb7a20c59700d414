"""Which read feeds which warehouse table, and how its range is kept (journal seq or
updated-at; whole days for the tables whose rows carry no updated-at)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from paycore.warehouse import store_sources as core
from paycore.warehouse import store_sources_ops as ops
from paycore.warehouse.schemas import TABLES
from paycore.warehouse.store_sources import Rows, Window
from paycore.warehouse.tokens import AccountToken

Read = Callable[[Connection, Window, int], Iterator[Rows]]


@dataclass(frozen=True, slots=True)
class Source:
    read: Read | None
    by_seq: bool = False
    """The watermark is a journal seq (else an updated-at instant)."""
    whole_days: bool = False
    """The rows have no updated-at: the days they changed on are re-read whole."""


SOURCES: dict[str, Source] = {
    "ledger_entries": Source(core.ledger_entries, by_seq=True),
    "ledger_transfers": Source(core.ledger_transfers, by_seq=True),
    "payment_orders": Source(core.payment_orders),
    "payment_attempts": Source(core.payment_attempts),
    "recon_lines": Source(None, whole_days=True),
    "recon_breaks": Source(ops.recon_breaks),
    "custody_receipts": Source(ops.custody_receipts),
    "split_splits": Source(ops.split_splits),
    "collection_attempts": Source(ops.collection_attempts),
}
if set(SOURCES) != {t.name for t in TABLES}:  # a table of the contract with no read
    raise RuntimeError("warehouse sources and schemas.TABLES differ")


def read_pages(
    source: Source,
    conn: Connection,
    window: Window,
    batch: int,
    account_token: AccountToken | None = None,
) -> tuple[list[date], Iterator[Rows]]:
    """(the days read whole, if any; the pages of rows)."""
    if source.whole_days:
        days = ops.recon_line_days(conn, window)
        return days, ops.recon_lines(conn, days, batch, account_token)
    if source.read is None:
        raise RuntimeError("a source reads rows or whole days")
    return [], source.read(conn, window, batch)
