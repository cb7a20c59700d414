"""Statement lines written in bulk as an import streams them.

One code path, the dialect choosing how: an `executemany` of plain tuples on SQLite, `COPY`
on PostgreSQL, both on the import's own transaction (rolled back with everything else on
a bad file). A line is a list in `COLUMNS` order from the moment it is read, so nothing is
converted twice: building a dict per line and letting SQLAlchemy turn it into parameters
cost more than the database's own work for a million lines.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from paycore.recon.model import MalformedStatement, StatementLine, business_date_of
from paycore.recon.store import lines

COLUMNS = (
    "import_id",
    "line_no",
    "source",
    "business_date",
    "source_ref",
    "kind",
    "direction",
    "amount",
    "currency",
    "fee",
    "status",
    "channel_txn_id",
    "reference",
    "booked_at",
    "duplicate",
    "order_id",
    "matched_by",
    "counterparty_enc",
    "bank_kind",
    "counter_amount",
    "counter_currency",
    "account_enc",
)
"""Every column of recon_lines, in the order a line's list holds them. The line's account is
personal data: the service seals it into `account_enc` (no clear column since 0032)."""

KIND = COLUMNS.index("kind")
CHANNEL_TXN_ID = COLUMNS.index("channel_txn_id")
ORDER_ID = COLUMNS.index("order_id")
MATCHED_BY = COLUMNS.index("matched_by")
COUNTERPARTY_ENC = COLUMNS.index("counterparty_enc")
ACCOUNT_ENC = COLUMNS.index("account_enc")

TEXT_CHARS_MAX = 128
ACCOUNT_CHARS_MAX = 34  # an IBAN's longest
BANK_KIND_CHARS = 40

CONVERSIONS_KEPT = 4_096

SQLITE_CACHE_KIB = 256 * 1024
"""SQLite's page cache while an import or a run works (the default is 2 MB): the indexes of
a million lines are ~150 MB, and every insert or probe that misses the cache is a read
from the OS. Memory only: it changes nothing about what is written or when it is synced."""


def line_row(line: StatementLine, *, import_id: str, source: str, carries_fee: bool) -> list[Any]:
    """The line as recon_lines stores it, in COLUMNS order; refused (naming the field) if
    the database could not hold it as the file states it."""
    ref, txn, reference, account = (
        line.source_ref,
        line.channel_txn_id,
        line.reference,
        line.account,
    )
    if (
        len(ref) > TEXT_CHARS_MAX
        or (txn is not None and len(txn) > TEXT_CHARS_MAX)
        or (reference is not None and len(reference) > TEXT_CHARS_MAX)
        or (account is not None and len(account) > ACCOUNT_CHARS_MAX)
    ):
        _refuse_too_long(line)
    if "\x00" in f"{ref}{txn}{reference}{account}{line.currency}" or line.counterparty:
        _refuse_nul(line)
    if line.amount <= 0:
        raise MalformedStatement("an amount is positive", line=line.line_no, field="amount")
    bank_kind = line.bank_kind
    # The enums are StrEnums: each is its own text, stored as it is (no `.value` lookups).
    return [
        import_id,
        line.line_no,
        source,
        line.business_date or _business_date_of(line.booked_at),
        ref,
        line.kind,
        line.direction,
        line.amount,
        line.currency,
        line.fee if carries_fee else None,
        line.status,
        txn or None,
        reference or None,
        line.booked_at,
        False,
        None,
        None,
        None,
        bank_kind[:BANK_KIND_CHARS] if bank_kind else None,
        line.counter_amount,
        line.counter_currency,
        None,
    ]


def account_context(import_id: str, line_no: int) -> str:
    """Binds a line's sealed account to the line."""
    return f"recon-line-account:{import_id}:{line_no}"


_business_date_of = lru_cache(maxsize=CONVERSIONS_KEPT)(business_date_of)
"""An instant's business day (a time-zone conversion), for instants that repeat."""


def _refuse_too_long(line: StatementLine) -> None:
    for field, longest in (
        ("source_ref", TEXT_CHARS_MAX),
        ("channel_txn_id", TEXT_CHARS_MAX),
        ("reference", TEXT_CHARS_MAX),
        ("account", ACCOUNT_CHARS_MAX),
    ):
        value = getattr(line, field)
        if value is not None and len(value) > longest:
            raise MalformedStatement(
                f"longer than {longest} characters", line=line.line_no, field=field
            )


def _refuse_nul(line: StatementLine) -> None:
    """PostgreSQL's text cannot hold a NUL: whatever the parser let through, the file is
    refused naming where (its counterparty too, though sealed: it is the file's text)."""
    party = line.counterparty
    texts = {
        "source_ref": line.source_ref,
        "channel_txn_id": line.channel_txn_id,
        "reference": line.reference,
        "account": line.account,
        "currency": line.currency,
        "counterparty_account": party.account_number if party else None,
        "counterparty_name": party.name if party else None,
    }
    for field, value in texts.items():
        if value and "\x00" in value:
            raise MalformedStatement(
                "a NUL character: no text may hold one", line=line.line_no, field=field
            )


class LineWriter:
    """Appends chunks of lines (lists in COLUMNS order) to recon_lines on `conn`."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._copy = conn.dialect.name == "postgresql"
        dialect = conn.dialect
        # SQLAlchemy's own conversions for the columns that have one on this dialect (a
        # date or an instant as SQLite's text, a boolean as 0/1), taken once: the stored
        # form is exactly what an ORM-style insert of the same line would store.
        by_name = {column.name: column for column in lines.columns}
        # Remembered: a day's file of a million lines has a dozen lines a second, so most
        # instants (and every day) repeat the line before.
        self._convert = [
            (place, lru_cache(maxsize=CONVERSIONS_KEPT)(process))
            for place, name in enumerate(COLUMNS)
            if (process := by_name[name].type.dialect_impl(dialect).bind_processor(dialect))
            is not None
        ]
        names = ", ".join(COLUMNS)
        self._insert = f"INSERT INTO recon_lines ({names}) VALUES ({', '.join('?' * len(COLUMNS))})"
        self._copy_sql = f"COPY recon_lines ({names}) FROM STDIN"

    def write(self, rows: Sequence[list[Any]]) -> None:
        if not rows:
            return
        if self._copy:
            # COPY on the transaction's own connection: several times faster than INSERTs
            # for the millions of lines of a day, and still rolled back with the rest.
            driver: Any = self._conn.connection.driver_connection
            with driver.cursor() as cursor, cursor.copy(self._copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        convert = self._convert
        for row in rows:
            for place, process in convert:
                row[place] = process(row[place])
        self._conn.exec_driver_sql(self._insert, [tuple(row) for row in rows])


@contextmanager
def bulk_cache(conn: Connection) -> Iterator[None]:
    """A larger SQLite page cache on this connection while a bulk import or run works,
    the connection's own setting back afterwards (it returns to the pool). Set on the
    driver's connection, outside the transaction, so it never begins one of its own.
    Nothing on PostgreSQL, whose buffers are the server's."""
    if conn.dialect.name != "sqlite":
        yield
        return
    driver: Any = conn.connection.driver_connection
    (before,) = driver.execute("PRAGMA cache_size").fetchone()
    driver.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA cache_size = {int(before)}")
