"""The group-commit writer's SQL: driver-level statements for the hot path.

Every statement here runs once per group, whatever the group's size: id lists
travel as one array (PostgreSQL `= ANY`, `unnest`) or one JSON document
(SQLite `json_each`) instead of thousands of bound parameters. Compiling
SQLAlchemy expressions with expanding IN-lists cost more than the database
work itself, so these statements are plain text over the same connection and
transaction; the schema is still defined once, in `store.py`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from paycore.ledger.group_commit import RetryGroup
from paycore.ledger.model import (
    AccountOrigin,
    AccountState,
    AccountStatus,
    Transfer,
    TransferStatus,
)
from paycore.ledger.posting import Posting

_STATE_COLUMNS = (
    "id, currency, flags, status, debits_pending, debits_posted, credits_pending, credits_posted, "
    "owner_id, origin"
)
_TRANSFER_COLUMNS = (
    "id, debit_account_id, credit_account_id, amount, currency, flags, pending_id, "
    "timeout_s, code, metadata, created_at, expires_at, status"
)
_ENTRY_COLUMNS = (
    "account_id, transfer_id, event, side, amount, debits_pending, debits_posted, "
    "credits_pending, credits_posted, created_at"
)


class _Dialect:
    """How ids, timestamps and JSON cross the driver boundary for one database."""

    def __init__(self, conn: Connection) -> None:
        self.postgres = conn.dialect.name == "postgresql"

    def ids(
        self, column: str, ids: Collection[str], name: str = "ids"
    ) -> tuple[str, dict[str, Any]]:
        """`column` is one of `ids`, passed as a single parameter called `name`."""
        # A JSON document, not a text[] array: psycopg adapts an array element by element in
        # Python (a regular expression per id to decide its quoting), json.dumps in C.
        if self.postgres:
            elements = f"SELECT json_array_elements_text(%({name})s::json)"
            return f"{column} = ANY(ARRAY({elements}))", {name: json.dumps(list(ids))}
        return f"{column} IN (SELECT value FROM json_each(:{name}))", {name: json.dumps(list(ids))}

    def bind_time(self, value: datetime | None) -> Any:
        if value is None or self.postgres:
            return value
        return _sqlite_time(value)

    def read_time(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def bind_json(self, value: Any) -> Any:
        if self.postgres:
            return dict(value)
        return json.dumps(dict(value)) if value else "{}"

    def read_json(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def sql(self, statement: str) -> str:
        """Statements are written with `:name` placeholders; psycopg wants `%(name)s`."""
        if not self.postgres:
            return statement
        for name in ("accounts", "ids", "now"):
            statement = statement.replace(f":{name}", f"%({name})s")
        return statement


@functools.lru_cache(maxsize=64)
def _sqlite_time(value: datetime) -> str:
    """The format SQLAlchemy's SQLite DateTime writes, so text comparison orders instants.
    Cached: every entry of a group carries the same instant."""
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"


_ACCOUNT_STATUS = {status.value: status for status in AccountStatus}
_ACCOUNT_ORIGIN = {origin.value: origin for origin in AccountOrigin}


def _account_state(row: Sequence[Any]) -> AccountState:
    """Only what posting needs: no metadata to parse for every account of every group."""
    return AccountState(
        id=row[0],
        currency=row[1],
        flags=row[2],
        status=_ACCOUNT_STATUS[row[3]],
        debits_pending=row[4],
        debits_posted=row[5],
        credits_pending=row[6],
        credits_posted=row[7],
        owner_id=row[8],
        origin=_ACCOUNT_ORIGIN[row[9]],
    )


def _transfer(d: _Dialect, row: Sequence[Any]) -> Transfer:
    return Transfer(
        id=row[0],
        debit_account_id=row[1],
        credit_account_id=row[2],
        amount=row[3],
        currency=row[4],
        flags=row[5],
        pending_id=row[6],
        timeout_s=row[7],
        code=row[8],
        metadata=d.read_json(row[9]),
        created_at=d.read_time(row[10]) or datetime.min.replace(tzinfo=UTC),
        expires_at=d.read_time(row[11]),
        status=TransferStatus(row[12]),
    )


def lock_accounts(conn: Connection, account_ids: Collection[str]) -> dict[str, AccountState]:
    """Load and row-lock accounts in id order, the one order every writer uses."""
    if not account_ids:
        return {}
    sql, params = _lock_statement(_Dialect(conn), account_ids)
    return {row[0]: _account_state(row) for row in conn.exec_driver_sql(sql, params).fetchall()}


def load_transfers(conn: Connection, transfer_ids: Collection[str]) -> dict[str, Transfer]:
    if not transfer_ids:
        return {}
    d = _Dialect(conn)
    where, params = d.ids("id", transfer_ids)
    sql = d.sql(f"SELECT {_TRANSFER_COLUMNS} FROM ledger_transfers WHERE {where}")
    return {row[0]: _transfer(d, row) for row in conn.exec_driver_sql(sql, params)}


def accounts_of(conn: Connection, transfer_ids: Collection[str]) -> set[str]:
    """The debit and credit accounts of these transfers."""
    if not transfer_ids:
        return set()
    d = _Dialect(conn)
    where, params = d.ids("id", transfer_ids)
    sql = d.sql(f"SELECT debit_account_id, credit_account_id FROM ledger_transfers WHERE {where}")
    return {account_id for row in conn.exec_driver_sql(sql, params) for account_id in row}


def lock_and_load(
    conn: Connection,
    *,
    account_ids: Collection[str],
    transfer_ids: Collection[str],
    now: datetime,
) -> tuple[dict[str, AccountState], dict[str, Transfer], dict[str, str]]:
    """Lock the accounts (in id order), then read the transfers named, the holds on these
    accounts that are due to expire, and the remembered failures of the ids named.

    The read runs after the locks are held, so it sees every commit made before. On
    PostgreSQL both statements go in one pipeline: one round trip instead of two.
    """
    d = _Dialect(conn)
    statements = [
        _lock_statement(d, account_ids),
        _load_statement(d, transfer_ids, account_ids, now),
    ]
    if d.postgres:
        driver = conn.connection.driver_connection
        cursors = [driver.cursor(), driver.cursor()]  # type: ignore[union-attr]
        with driver.pipeline():  # type: ignore[union-attr]
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
        locked, loaded = (cursor.fetchall() for cursor in cursors)
    else:
        # The driver's own cursor: SQLAlchemy would wrap each of thousands of rows in a Row.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            locked, loaded = (cursor.execute(sql, p).fetchall() for sql, p in statements)
        finally:
            cursor.close()
    accounts = {row[0]: _account_state(row) for row in locked}
    transfers: dict[str, Transfer] = {}
    failures: dict[str, str] = {}
    for row in loaded:
        if row[13] is None:
            transfers[row[0]] = _transfer(d, row)
        else:
            failures[row[0]] = row[13]
    return accounts, transfers, failures


def _lock_statement(d: _Dialect, account_ids: Collection[str]) -> tuple[str, dict[str, Any]]:
    where, params = d.ids("id", sorted(account_ids))
    lock = " ORDER BY id FOR UPDATE" if d.postgres else ""
    return d.sql(f"SELECT {_STATE_COLUMNS} FROM ledger_accounts WHERE {where}{lock}"), params


def _load_statement(
    d: _Dialect, transfer_ids: Collection[str], account_ids: Collection[str], now: datetime
) -> tuple[str, dict[str, Any]]:
    by_id, params = d.ids("id", transfer_ids, name="ids")
    debit, accounts = d.ids("debit_account_id", account_ids, name="accounts")
    credit, _ = d.ids("credit_account_id", account_ids, name="accounts")
    params.update(accounts)
    params["now"] = d.bind_time(now)
    blanks = ", ".join(["NULL"] * 12)
    # Three branches, each with its own index (primary key, the partial index of live
    # holds, primary key): an OR across them makes a prepared statement's generic plan
    # scan the whole table, testing every row against both id arrays. A due hold that is
    # also named comes back twice; the caller keys by id.
    sql = d.sql(
        f"SELECT {_TRANSFER_COLUMNS}, NULL AS result FROM ledger_transfers WHERE {by_id} "
        f"UNION ALL SELECT {_TRANSFER_COLUMNS}, NULL FROM ledger_transfers "
        "WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= :now "
        f"AND ({debit} OR {credit}) "
        f"UNION ALL SELECT id, {blanks}, result FROM ledger_transfer_failures WHERE {by_id}"
    )
    return sql, params


COPY_ROWS_MIN = 256
"""From this many entries on, PostgreSQL writes go through binary COPY; below it, one
statement with data-modifying CTEs writes the whole group in a single round trip."""


class StaleHold(RetryGroup):
    """A hold changed between reading it and writing its new status: retry the group."""


_HOLD_COLUMNS = "status, id"
_BALANCE_COLUMNS = "debits_pending, debits_posted, credits_pending, credits_posted, id"
_FAILURE_COLUMNS = "id, result, failed_at"


@dataclass(frozen=True, slots=True)
class _Rows:
    """What one group writes, as rows in the column order of the statements below."""

    transfers: list[tuple[Any, ...]]
    holds: list[tuple[Any, ...]]  # (new status, id) of holds that were pending
    entries: list[tuple[Any, ...]]
    balances: list[tuple[Any, ...]]  # (four balances, id)
    failures: list[tuple[Any, ...]]


def _rows(d: _Dialect, posting: Posting, *, metadata_as_text: bool) -> _Rows:
    created_ids = {t.id for t in posting.created}
    now = d.bind_time(posting.now)
    return _Rows(
        transfers=[_transfer_values(d, t, metadata_as_text) for t in posting.created],
        holds=[
            (posting.transfers[tid].status.value, tid)
            for tid in sorted(posting.dirty_transfers)
            if tid not in created_ids and tid in posting.transfers
        ],
        entries=_entry_rows(d, posting),
        balances=[(*posting.accounts[i].balances(), i) for i in sorted(posting.dirty_accounts)],
        failures=[(i, r, now) for i, r in posting.failures.items()],
    )


def _entry_rows(d: _Dialect, posting: Posting) -> list[tuple[Any, ...]]:
    """An entry is already a row in `_ENTRY_COLUMNS` order; SQLite wants its instant as text.
    Every entry of a group is made at the group's instant, so that is converted once."""
    if d.postgres:
        return list(posting.entries)
    now, at = posting.now, d.bind_time(posting.now)
    return [
        (*e[:9], at if e.created_at is now else d.bind_time(e.created_at)) for e in posting.entries
    ]


def write_posting(conn: Connection, posting: Posting) -> None:
    """Write everything one group changed; the caller's transaction makes it atomic."""
    d = _Dialect(conn)
    one_statement = d.postgres and len(posting.entries) < COPY_ROWS_MIN
    # Inside the one statement's JSON rows, metadata travels as its JSON text.
    rows = _rows(d, posting, metadata_as_text=one_statement or not d.postgres)
    if one_statement:
        changed = conn.exec_driver_sql(_ONE_STATEMENT_SQL, _json_params(rows)).scalar_one()
    else:
        _insert(conn, d, "ledger_transfers", _TRANSFER_COLUMNS, rows.transfers)
        changed = _update(conn, d, "ledger_transfers", ("status",), rows.holds)
        _insert(conn, d, "ledger_entries", _ENTRY_COLUMNS, rows.entries)
        names = _BALANCE_COLUMNS.split(", ")[:-1]
        _update(conn, d, "ledger_accounts", names, rows.balances)
        _insert(conn, d, "ledger_transfer_failures", _FAILURE_COLUMNS, rows.failures)
    if changed != len(rows.holds):
        raise StaleHold(f"{len(rows.holds) - changed} holds were no longer pending")


_JSONB_VERSION = b"\x01"
"""jsonb's binary wire format is this version byte followed by the JSON text."""
_EMPTY_JSONB = _JSONB_VERSION + b"{}"


def _transfer_values(d: _Dialect, t: Transfer, metadata_as_text: bool) -> tuple[Any, ...]:
    metadata: Any
    if metadata_as_text:
        metadata = json.dumps(dict(t.metadata)) if t.metadata else "{}"
    elif d.postgres:
        # Binary COPY: the metadata goes as jsonb's wire bytes (see `_COPY_TYPES`); psycopg's
        # own jsonb dumper costs microseconds per row in Python even for an empty object.
        metadata = (
            _JSONB_VERSION + json.dumps(dict(t.metadata)).encode() if t.metadata else _EMPTY_JSONB
        )
    else:
        metadata = d.bind_json(t.metadata)
    return (
        t.id,
        t.debit_account_id,
        t.credit_account_id,
        t.amount,
        t.currency,
        int(t.flags),
        t.pending_id,
        t.timeout_s,
        t.code,
        metadata,
        d.bind_time(t.created_at),
        d.bind_time(t.expires_at),
        t.status.value,
    )


# PostgreSQL array types for `unnest`, by column name, so one statement carries a whole group.
_PG_TYPES = {
    "amount": "int8",
    "flags": "int4",
    "timeout_s": "int4",
    "code": "int4",
    "metadata": "jsonb",
    "created_at": "timestamptz",
    "expires_at": "timestamptz",
    "failed_at": "timestamptz",
    "debits_pending": "int8",
    "debits_posted": "int8",
    "credits_pending": "int8",
    "credits_posted": "int8",
}


# COPY sends no type to the server: each field is handed to its column's binary input as
# it is. Metadata is encoded beforehand as jsonb's wire bytes, and passed through as bytea.
_COPY_TYPES = {**_PG_TYPES, "metadata": "bytea"}


def _insert(
    conn: Connection, d: _Dialect, table: str, columns: str, rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    names = [c.strip() for c in columns.split(",")]
    if d.postgres:
        # Binary COPY: several times faster than a multi-row INSERT for the same rows.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([_COPY_TYPES.get(n, "text") for n in names])
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(names))
        _sqlite_executemany(conn, f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _update(
    conn: Connection, d: _Dialect, table: str, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> int:
    """Set `names` on rows given as (value..., id) tuples; returns the rows changed. A hold's
    status only ever changes from pending, so that is part of the match."""
    if not rows:
        return 0
    guard = " AND t.status = 'pending'" if names == ("status",) else ""
    if d.postgres:
        # One JSON array of rows: json.dumps runs in C, where psycopg would adapt each
        # element of one array per column in Python.
        sets = ", ".join(
            f"{n} = (v->>{k})::{_PG_TYPES.get(n, 'text')}" for k, n in enumerate(names)
        )
        result = conn.exec_driver_sql(
            f"UPDATE {table} AS t SET {sets} FROM json_array_elements(%s::json) AS v "
            f"WHERE t.id = v->>{len(names)}{guard}",
            (json.dumps(rows),),
        )
        return int(result.rowcount)
    else:
        sets = ", ".join(f"{n} = ?" for n in names)
        where = guard.replace("t.status", "status")
        return _sqlite_executemany(conn, f"UPDATE {table} SET {sets} WHERE id = ?{where}", rows)


def _sqlite_executemany(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> int:
    """On the driver's cursor, in the connection's transaction: SQLAlchemy's execution
    context costs a small group more than SQLite's own work. Returns the rows changed."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        return int(cursor.executemany(sql, rows).rowcount)
    finally:
        cursor.close()


def _json_params(rows: _Rows) -> tuple[str, ...]:
    """Each table's rows as one JSON array of arrays, in `_ONE_STATEMENT_SQL` order.

    One JSON text per table rather than one PostgreSQL array per column: json.dumps runs in
    C, where psycopg adapts every element of an array in Python (33 arrays per group)."""
    return tuple(
        json.dumps(table_rows, default=_json_time)
        for table_rows in (rows.transfers, rows.holds, rows.entries, rows.balances, rows.failures)
    )


def _json_time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} does not go into a row's JSON")


def _json_rows(columns: str) -> str:
    """The rows of one `_json_params` document, cast to the columns' types, in their order
    (so the journal's sequence numbers follow the entries' order)."""
    names = [c.strip() for c in columns.split(",")]
    values = ", ".join(f"(r.v->>{k})::{_PG_TYPES.get(n, 'text')}" for k, n in enumerate(names))
    return (
        f"SELECT {values} FROM json_array_elements(%s::json) WITH ORDINALITY AS r(v, n) "
        "ORDER BY r.n"
    )


_ONE_STATEMENT_SQL = f"""
WITH new_transfers AS (
    INSERT INTO ledger_transfers ({_TRANSFER_COLUMNS})
    {_json_rows(_TRANSFER_COLUMNS)}
), held AS (
    UPDATE ledger_transfers AS t SET status = v.status
    FROM ({_json_rows(_HOLD_COLUMNS)}) AS v({_HOLD_COLUMNS})
    WHERE t.id = v.id AND t.status = 'pending' RETURNING 1
), new_entries AS (
    INSERT INTO ledger_entries ({_ENTRY_COLUMNS})
    {_json_rows(_ENTRY_COLUMNS)}
), balances AS (
    UPDATE ledger_accounts AS t SET debits_pending = v.debits_pending,
        debits_posted = v.debits_posted, credits_pending = v.credits_pending,
        credits_posted = v.credits_posted
    FROM ({_json_rows(_BALANCE_COLUMNS)}) AS v({_BALANCE_COLUMNS})
    WHERE t.id = v.id
), new_failures AS (
    INSERT INTO ledger_transfer_failures ({_FAILURE_COLUMNS})
    {_json_rows(_FAILURE_COLUMNS)}
)
SELECT count(*) FROM held
"""
