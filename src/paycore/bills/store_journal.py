"""The journal as bills read it (read-only SQL on the ledger's and payments' tables):
accounts of a merchant, entries with their transfers' codes, snapshots at a bound, orders'
products and fees, live holds, and the posted transfers the proof sums on its own."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from paycore.bills.journal import JournalEntry, OrderFacts
from paycore.bills.model import Balances
from paycore.bills.store import chunks, row_balances
from paycore.ledger.store import accounts, entries, transfers
from paycore.merchants.store import merchants
from paycore.payments.store import orders


def merchant_accounts(conn: Connection, merchant_id: str, owner_id: str | None) -> list[Any]:
    """The merchant's accounts (its own and its wallet owners'), or one owner's."""
    if owner_id is not None:
        where = accounts.c.owner_id == f"{merchant_id}:{owner_id}"
    else:
        prefix = f"{merchant_id}:"
        # substr, not LIKE: `_` and `%` may be in a merchant id.
        where = or_(
            accounts.c.owner_id == merchant_id,
            func.substr(accounts.c.owner_id, 1, len(prefix)) == prefix,
        )
    query = select(accounts).where(where).order_by(accounts.c.id)
    return list(conn.execute(query))


def balances_at(
    conn: Connection, account_ids: Collection[str], bound: datetime
) -> dict[str, tuple[Balances, int]]:
    """Each account's snapshot after its last entry before `bound`, with that entry's seq."""
    found: dict[str, tuple[Balances, int]] = {}
    for chunk in chunks(account_ids):
        last = (
            select(entries.c.account_id, func.max(entries.c.seq).label("seq"))
            .where(entries.c.account_id.in_(chunk), entries.c.created_at < bound)
            .group_by(entries.c.account_id)
            .subquery()
        )
        rows = conn.execute(select(entries).join(last, entries.c.seq == last.c.seq))
        found.update({row.account_id: (row_balances(row), row.seq) for row in rows})
    return found


def journal_entries(
    conn: Connection,
    account_ids: Collection[str],
    *,
    start: datetime | None,
    end: datetime,
    after_seq: int | None = None,
    limit: int | None = None,
) -> Iterator[JournalEntry]:
    """Entries of the accounts in [start, end), with their transfers' codes, in journal
    order (by account, then seq, so each account's running balance folds in order)."""
    for chunk in chunks(account_ids):
        query = (
            select(entries, transfers.c.code)
            .join(transfers, transfers.c.id == entries.c.transfer_id)
            .where(entries.c.account_id.in_(chunk), entries.c.created_at < end)
            .order_by(entries.c.account_id, entries.c.seq)
        )
        if start is not None:
            query = query.where(entries.c.created_at >= start)
        if after_seq is not None:
            query = query.where(entries.c.seq > after_seq)
        if limit is not None:
            query = query.limit(limit)
        for row in conn.execute(query):
            yield JournalEntry(
                row.seq,
                row.account_id,
                row.transfer_id,
                row.code,
                row_balances(row),
                row.created_at,
            )


def order_facts(conn: Connection, order_ids: Collection[str]) -> dict[str, OrderFacts]:
    found: dict[str, OrderFacts] = {}
    for chunk in chunks(order_ids):
        query = select(orders.c.id, orders.c.product, orders.c.channel, orders.c.fee_amount)
        for row in conn.execute(query.where(orders.c.id.in_(chunk))):
            found[row.id] = OrderFacts(row.product, row.channel or "", row.fee_amount)
    return found


def first_entry_at(conn: Connection) -> datetime | None:
    return conn.execute(select(func.min(entries.c.created_at))).scalar()


def live_holds(conn: Connection, account_ids: Collection[str], limit: int) -> list[Any]:
    """Pending transfers touching the accounts, oldest first (two partial-index reads)."""
    found: dict[str, Any] = {}
    for chunk in chunks(account_ids):
        for column in (transfers.c.debit_account_id, transfers.c.credit_account_id):
            query = (
                select(transfers)
                .where(column.in_(chunk), transfers.c.status == "pending")
                .order_by(transfers.c.created_at, transfers.c.id)
                .limit(limit)
            )
            found.update({row.id: row for row in conn.execute(query)})
    return sorted(found.values(), key=lambda row: (row.created_at, row.id))[:limit]


def posted_sums(conn: Connection, account_ids: Collection[str], bound: datetime) -> dict[str, Any]:
    """Per account, posted debits and credits of every posted transfer before `bound`,
    summed from `ledger_transfers` alone: the independent side of the proof."""
    sums: dict[str, list[int]] = {}
    posted = transfers.c.status == "posted"
    for chunk in chunks(account_ids):
        for column, side in ((transfers.c.debit_account_id, 0), (transfers.c.credit_account_id, 1)):
            query = (
                select(column.label("account_id"), func.sum(transfers.c.amount).label("total"))
                .where(column.in_(chunk), posted, transfers.c.created_at < bound)
                .group_by(column)
            )
            for row in conn.execute(query):
                sums.setdefault(row.account_id, [0, 0])[side] = int(row.total)
    return sums


def owned_entries_after(conn: Connection, after_seq: int, limit: int) -> list[JournalEntry]:
    """The next entries of accounts with an owner, in journal order."""
    query = (
        select(entries, transfers.c.code)
        .join(transfers, transfers.c.id == entries.c.transfer_id)
        .join(accounts, accounts.c.id == entries.c.account_id)
        .where(entries.c.seq > after_seq, accounts.c.owner_id.is_not(None))
        .order_by(entries.c.seq)
        .limit(limit)
    )
    return [
        JournalEntry(
            row.seq, row.account_id, row.transfer_id, row.code, row_balances(row), row.created_at
        )
        for row in conn.execute(query)
    ]


def entry_balances(conn: Connection, seq: int, account_id: str) -> Balances | None:
    """The snapshot after one entry of the account (None: no such entry of it)."""
    query = select(entries).where(entries.c.seq == seq, entries.c.account_id == account_id)
    row = conn.execute(query).first()
    return row_balances(row) if row else None


def codes_and_flags(conn: Connection, account_ids: Collection[str]) -> dict[str, tuple[int, int]]:
    """(code, flags) of each account."""
    found: dict[str, tuple[int, int]] = {}
    for chunk in chunks(account_ids):
        query = select(accounts.c.id, accounts.c.code, accounts.c.flags)
        for row in conn.execute(query.where(accounts.c.id.in_(chunk))):
            found[row.id] = (row.code, row.flags)
    return found


def merchant_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(merchants.c.id).order_by(merchants.c.id)).scalars())
