"""Ledger tables and SQL. The only module of the ledger that speaks SQL."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    and_,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)

from paycore.ledger import store_writer
from paycore.ledger.model import (
    Account,
    AccountOrigin,
    AccountStatus,
    Entry,
    Transfer,
    TransferStatus,
)
from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("code", Integer, nullable=False),
    Column("owner_id", String(64), nullable=True),
    # flow | api (AccountOrigin): only accounts opened through the API are movable by API keys.
    Column("origin", String(8), nullable=False, server_default="flow"),
    Column("flags", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("metadata", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Index("ix_ledger_accounts_owner_id", "owner_id"),
    # Only accounts whose debits exceed their credits: few (clearing, pools, users' debts),
    # so a sweep for debts to offset reads a handful of rows, never every wallet.
    Index(
        "ix_ledger_accounts_in_debit",
        "code",
        "id",
        postgresql_where=text("debits_posted > credits_posted"),
        sqlite_where=text("debits_posted > credits_posted"),
    ),
)

transfers = Table(
    "ledger_transfers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("debit_account_id", String(64), nullable=False),
    Column("credit_account_id", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("flags", Integer, nullable=False),
    Column("pending_id", String(64), nullable=True),
    Column("timeout_s", Integer, nullable=False),
    Column("code", Integer, nullable=False),
    Column("metadata", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("status", String(16), nullable=False),
    # Only live holds with a timeout are indexed: the expiry sweep reads this and nothing else.
    Index(
        "ix_ledger_transfers_due",
        "expires_at",
        postgresql_where=text("status = 'pending' AND expires_at IS NOT NULL"),
        sqlite_where=text("status = 'pending' AND expires_at IS NOT NULL"),
    ),
)

entries = Table(
    "ledger_entries",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("account_id", String(64), nullable=False),
    Column("transfer_id", String(64), nullable=False),
    Column("event", String(16), nullable=False),
    Column("side", String(6), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_ledger_entries_account_seq", "account_id", "seq"),
)

transfer_failures = Table(
    "ledger_transfer_failures",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("result", String(64), nullable=False),
    Column("failed_at", UTCDateTime, nullable=False),
)


# -- rows <-> model -------------------------------------------------------------------


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        currency=row.currency,
        code=row.code,
        flags=row.flags,
        status=AccountStatus(row.status),
        owner_id=row.owner_id,
        origin=AccountOrigin(row.origin),
        metadata=row.metadata,
        created_at=row.created_at,
        debits_pending=row.debits_pending,
        debits_posted=row.debits_posted,
        credits_pending=row.credits_pending,
        credits_posted=row.credits_posted,
    )


# -- accounts ---------------------------------------------------------------------------


def insert_accounts(conn: Connection, new_accounts: Sequence[Account]) -> None:
    if not new_accounts:
        return
    rows = [
        {
            "id": a.id,
            "currency": a.currency,
            "code": a.code,
            "owner_id": a.owner_id,
            "origin": a.origin.value,
            "flags": int(a.flags),
            "status": a.status.value,
            "metadata": dict(a.metadata),
            "created_at": a.created_at,
            "debits_pending": 0,
            "debits_posted": 0,
            "credits_pending": 0,
            "credits_posted": 0,
        }
        for a in new_accounts
    ]
    conn.execute(accounts.insert(), rows)


def get_accounts(conn: Connection, account_ids: Sequence[str]) -> dict[str, Account]:
    if not account_ids:
        return {}
    rows = conn.execute(select(accounts).where(accounts.c.id.in_(set(account_ids))))
    return {row.id: _account(row) for row in rows}


def get_account(conn: Connection, account_id: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    return _account(row) if row else None


def list_accounts(
    conn: Connection, *, owner_id: str | None, after_id: str | None, limit: int
) -> list[Account]:
    """Accounts in id order, optionally of one owner; keyset-paged by id."""
    query = select(accounts).order_by(accounts.c.id).limit(limit)
    if owner_id is not None:
        query = query.where(accounts.c.owner_id == owner_id)
    if after_id is not None:
        query = query.where(accounts.c.id > after_id)
    return [_account(row) for row in conn.execute(query)]


def accounts_in_debit(
    conn: Connection, *, code: int, after_id: str | None, limit: int
) -> list[Account]:
    """Accounts of `code` whose posted debits exceed their posted credits, in id order."""
    query = (
        select(accounts)
        .where(accounts.c.code == code, accounts.c.debits_posted > accounts.c.credits_posted)
        .order_by(accounts.c.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(accounts.c.id > after_id)
    return [_account(row) for row in conn.execute(query)]


def trial_balance(conn: Connection) -> list[tuple[str, int, int, int, int, int, int]]:
    """(currency, code, accounts, debits_posted, credits_posted, debits_pending,
    credits_pending) summed per currency and code, in that order."""
    query = (
        select(
            accounts.c.currency,
            accounts.c.code,
            func.count(),
            func.coalesce(func.sum(accounts.c.debits_posted), 0),
            func.coalesce(func.sum(accounts.c.credits_posted), 0),
            func.coalesce(func.sum(accounts.c.debits_pending), 0),
            func.coalesce(func.sum(accounts.c.credits_pending), 0),
        )
        .group_by(accounts.c.currency, accounts.c.code)
        .order_by(accounts.c.currency, accounts.c.code)
    )
    return [
        (row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]), int(row[6]))
        for row in conn.execute(query)
    ]


def set_account_status(conn: Connection, account_id: str, status: AccountStatus) -> None:
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(status=status.value))


# -- transfers --------------------------------------------------------------------------


def get_transfer(conn: Connection, transfer_id: str) -> Transfer | None:
    # The writer's loader is the one place a stored row becomes a Transfer.
    return store_writer.load_transfers(conn, [transfer_id]).get(transfer_id)


def _due_condition(now: datetime) -> Any:
    return and_(
        transfers.c.status == TransferStatus.PENDING.value,
        transfers.c.expires_at.is_not(None),
        transfers.c.expires_at <= now,
    )


def has_due_holds(conn: Connection, account_ids: Collection[str], now: datetime) -> bool:
    """Whether any hold on these accounts has run out of time and still awaits expiry."""
    ids = list(account_ids)
    on_accounts = or_(transfers.c.debit_account_id.in_(ids), transfers.c.credit_account_id.in_(ids))
    query = select(literal(1)).where(_due_condition(now), on_accounts).limit(1)
    return conn.execute(query).first() is not None


def due_hold_accounts(conn: Connection, now: datetime, limit: int) -> set[str]:
    """Accounts of the oldest holds that are due to expire, for the expiry sweep."""
    query = (
        select(transfers.c.debit_account_id, transfers.c.credit_account_id)
        .where(_due_condition(now))
        .order_by(transfers.c.expires_at)
        .limit(limit)
    )
    found: set[str] = set()
    for row in conn.execute(query):
        found.update((row.debit_account_id, row.credit_account_id))
    return found


# -- history ----------------------------------------------------------------------------


def list_entries(
    conn: Connection, account_id: str, *, limit: int, after_seq: int | None, newest_first: bool
) -> list[tuple[int, Entry]]:
    query = select(entries).where(entries.c.account_id == account_id)
    if after_seq is not None:
        query = query.where(
            entries.c.seq < after_seq if newest_first else entries.c.seq > after_seq
        )
    query = query.order_by(entries.c.seq.desc() if newest_first else entries.c.seq).limit(limit)
    return [(row.seq, _entry(row)) for row in conn.execute(query)]


def _entry(row: Any) -> Entry:
    return Entry(
        account_id=row.account_id,
        transfer_id=row.transfer_id,
        event=row.event,
        side=row.side,
        amount=row.amount,
        debits_pending=row.debits_pending,
        debits_posted=row.debits_posted,
        credits_pending=row.credits_pending,
        credits_posted=row.credits_posted,
        created_at=row.created_at,
    )


def last_entry_at(conn: Connection, account_id: str, at: datetime) -> Entry | None:
    query = (
        select(entries)
        .where(entries.c.account_id == account_id, entries.c.created_at <= at)
        .order_by(entries.c.seq.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return _entry(row) if row else None


# -- self-check ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalSums:
    """Per account: balances stored, balances recomputed from transfers, last entry snapshot."""

    stored: Mapping[str, tuple[str, tuple[int, int, int, int]]]
    recomputed: Mapping[str, tuple[int, int, int, int]]
    last_entry: Mapping[str, tuple[int, int, int, int]]


def journal_sums(conn: Connection) -> JournalSums:
    stored = {
        row.id: (
            row.currency,
            (row.debits_pending, row.debits_posted, row.credits_pending, row.credits_posted),
        )
        for row in conn.execute(
            select(
                accounts.c.id,
                accounts.c.currency,
                accounts.c.debits_pending,
                accounts.c.debits_posted,
                accounts.c.credits_pending,
                accounts.c.credits_posted,
            )
        )
    }
    recomputed: dict[str, list[int]] = {}
    for row in conn.execute(_recompute_query()):
        slot = recomputed.setdefault(row.account_id, [0, 0, 0, 0])
        slot[row.slot] += int(row.total)
    latest = (
        select(entries.c.account_id, func.max(entries.c.seq).label("seq"))
        .group_by(entries.c.account_id)
        .subquery()
    )
    last_query = select(entries).join(latest, entries.c.seq == latest.c.seq)
    last_entry = {
        row.account_id: (
            row.debits_pending,
            row.debits_posted,
            row.credits_pending,
            row.credits_posted,
        )
        for row in conn.execute(last_query)
    }
    return JournalSums(
        stored=stored,
        recomputed={k: (v[0], v[1], v[2], v[3]) for k, v in recomputed.items()},
        last_entry=last_entry,
    )


def _recompute_query() -> Any:
    """Sum live holds into *_pending and posted transfers into *_posted, per account side.

    Slots index the balance tuple: 0 debits_pending, 1 debits_posted,
    2 credits_pending, 3 credits_posted.
    """
    parts = []
    for status, debit_slot, credit_slot in (
        (TransferStatus.PENDING.value, 0, 2),
        (TransferStatus.POSTED.value, 1, 3),
    ):
        for column, slot in (
            (transfers.c.debit_account_id, debit_slot),
            (transfers.c.credit_account_id, credit_slot),
        ):
            parts.append(
                select(
                    column.label("account_id"),
                    literal(slot).label("slot"),
                    func.sum(transfers.c.amount).label("total"),
                )
                .where(transfers.c.status == status)
                .group_by(column)
            )
    return union_all(*parts)
