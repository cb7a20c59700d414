"""The journal as finance reads it: a business day is a seq range of `ledger_entries`
(read by the primary key, never by a scan of `created_at`), summed in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from paycore.finance.model import Movement
from paycore.ledger.model import FLOW_TRANSFER_PREFIXES
from paycore.ledger.store import accounts, entries, transfers


def first_entry_at(conn: Connection) -> datetime | None:
    found: datetime | None = conn.execute(
        select(entries.c.created_at).order_by(entries.c.seq).limit(1)
    ).scalar()
    return found


def day_end_seq(conn: Connection, *, after: int, end: datetime) -> int:
    """The last seq of the day that starts after `after` and ends at `end`: just before the
    first later entry stamped at or after `end` (the journal is in time order, so a late
    entry of an earlier day counts in the day being derived), else the journal's end."""
    first_later = conn.execute(
        select(entries.c.seq)
        .where(entries.c.seq > after, entries.c.created_at >= end)
        .order_by(entries.c.seq)
        .limit(1)
    ).scalar()
    if first_later is not None:
        return int(first_later) - 1
    last = conn.execute(select(func.max(entries.c.seq)).where(entries.c.seq > after)).scalar()
    return int(last) if last is not None else after


def _prefix_of(transfer_id: Any) -> Any:
    """The flow namespace of a transfer id (`tr_pay_`...), '' outside every flow's."""
    whens = [(transfer_id.startswith(p, autoescape=True), p) for p in FLOW_TRANSFER_PREFIXES]
    return case(*whens, else_="")


def movements(conn: Connection, *, after: int, upto: int) -> list[Movement]:
    """The posted entries of paycore's own accounts in the seq range, summed in SQL per
    (currency, flow, reason, ledger code, side): a day of a million entries is a few dozen
    rows here. Accounts opened through the API are merchants' private books, not ours."""
    per_entry = (
        select(
            accounts.c.currency,
            _prefix_of(transfers.c.id).label("prefix"),
            transfers.c.code.label("reason"),
            accounts.c.code.label("ledger_code"),
            entries.c.side,
            entries.c.amount,
        )
        .select_from(
            entries.join(accounts, accounts.c.id == entries.c.account_id).join(
                transfers, transfers.c.id == entries.c.transfer_id
            )
        )
        .where(
            entries.c.seq > after,
            entries.c.seq <= upto,
            entries.c.event == "posted",
            accounts.c.origin == "flow",
        )
        .subquery()
    )
    keys = (
        per_entry.c.currency,
        per_entry.c.prefix,
        per_entry.c.reason,
        per_entry.c.ledger_code,
        per_entry.c.side,
    )
    rows = conn.execute(
        select(*keys, func.sum(per_entry.c.amount), func.count()).group_by(*keys)
    ).all()
    return [Movement(r[0], r[1], int(r[2]), int(r[3]), r[4], int(r[5]), int(r[6])) for r in rows]


def ledger_sums(conn: Connection, *, after: int, upto: int) -> dict[tuple[str, int], list[int]]:
    """(currency, ledger code) -> [debits, credits] of the posted entries in the seq range
    on paycore's own accounts: the ledger's side of the reconciliation, read from the
    entries alone (no transfer, no flow, no voucher grouping)."""
    rows = conn.execute(
        select(
            accounts.c.currency,
            accounts.c.code,
            func.sum(case((entries.c.side == "debit", entries.c.amount), else_=0)),
            func.sum(case((entries.c.side == "credit", entries.c.amount), else_=0)),
        )
        .select_from(entries.join(accounts, accounts.c.id == entries.c.account_id))
        .where(
            entries.c.seq > after,
            entries.c.seq <= upto,
            entries.c.event == "posted",
            accounts.c.origin == "flow",
        )
        .group_by(accounts.c.currency, accounts.c.code)
    ).all()
    return {(r[0], int(r[1])): [int(r[2]), int(r[3])] for r in rows}
