"""The journal's own totals, read from paycore's database, for the reports' self-checks.

One read-only query: the posted journal entries of a window, joined to their accounts
(code, currency) and their transfers (the reason `code`), summed per business day in
Asia/Shanghai, account code, currency, transfer code and side. A report over the
warehouse must come to the same sums: if not, the warehouse missed or doubled rows.

The business day is the entry's instant moved into Asia/Shanghai: PostgreSQL with its
time zone rules, SQLite (which has none) by the zone's offset, which Asia/Shanghai has
kept at +08:00 all year since 1991.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from paycore.ledger.store import accounts, entries, transfers
from paycore.warehouse.schemas import WAREHOUSE_ZONE


@dataclass(frozen=True, slots=True)
class JournalTotal:
    day: date
    account_code: int
    currency: str
    transfer_code: int
    side: str  # debit | credit
    amount: int


def _local_day(conn: Connection, start_at: datetime) -> ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return cast(func.timezone(WAREHOUSE_ZONE.key, entries.c.created_at), Date)
    offset = start_at.astimezone(WAREHOUSE_ZONE).utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return func.date(entries.c.created_at, literal(f"{seconds:+d} seconds"))


def journal_totals(conn: Connection, *, start_at: datetime, end_at: datetime) -> list[JournalTotal]:
    """Posted entries created in [start_at, end_at), summed per local day, account code,
    currency, transfer code and side."""
    day = _local_day(conn, start_at).label("day")
    query = (
        select(
            day,
            accounts.c.code,
            accounts.c.currency,
            transfers.c.code.label("transfer_code"),
            entries.c.side,
            func.sum(entries.c.amount).label("amount"),
        )
        .select_from(
            entries.join(accounts, accounts.c.id == entries.c.account_id).join(
                transfers, transfers.c.id == entries.c.transfer_id
            )
        )
        .where(
            entries.c.event == "posted",
            entries.c.created_at >= start_at,
            entries.c.created_at < end_at,
        )
        .group_by(day, accounts.c.code, accounts.c.currency, transfers.c.code, entries.c.side)
    )
    return [
        JournalTotal(
            day=row.day if isinstance(row.day, date) else date.fromisoformat(row.day),
            account_code=int(row.code),
            currency=row.currency,
            transfer_code=int(row.transfer_code),
            side=row.side,
            amount=int(row.amount),
        )
        for row in conn.execute(query)
    ]
