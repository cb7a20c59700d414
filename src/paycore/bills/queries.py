"""Bill queries: a merchant's orders, the transfers touching its accounts and its
statement lines, filtered and paged by key (the rules: query_model.py; the SQL:
query_store.py).

Keyset pages, not offsets: a page is found by the key of the last row seen, so a row
written while someone pages never shifts the rows after it (no row is seen twice, none
is skipped), and page 1,000 costs what page 1 costs. Reads go to the reports engine (a
bounded pool that may point at a read replica), one short statement per page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from paycore.bills import query_store as store
from paycore.bills.model import Period, statement_lines
from paycore.bills.query_model import (
    COLUMNS,
    PAGE_SIZE_MAX,
    Filters,
    Page,
    Row,
    What,
    check_filters,
    decode_cursor,
    encode_cursor,
    filters_of,
    fingerprint,
    line_key,
    line_key_of,
    order_cursor_key,
    order_key,
    page_size,
    transfer_key,
)
from paycore.bills.query_rows import OrderLine, line_row, order_lines, order_row, transfer_row
from paycore.bills.service import Bills
from paycore.errors import Rejected
from paycore.payments.details import cipher_for
from paycore.platform.db import one_read
from paycore.security.crypto import FieldCipher

__all__ = [
    "COLUMNS",
    "BillQueries",
    "Filters",
    "OrderLine",
    "Page",
    "Row",
    "What",
    "check_filters",
    "decode_cursor",
    "encode_cursor",
    "filters_of",
    "fingerprint",
    "line_row",
]

SCAN_ROWS_MAX = 5000
"""Rows one page may read to find `limit` that pass a filter the database cannot apply
(a transfer's kind): past it the page comes back short, with a cursor to go on."""
FILTERED_BATCH_ROWS = 500
"""Rows read at a time when a filter is applied after reading (a transfer's kind)."""
EXPORT_FETCH_ROWS = 2000
"""Orders an export fetches at a time from its one streamed statement (memory: a batch)."""
TRANSFER_WINDOW_PER_ROW = 2
TRANSFER_WINDOW_MIN = 256
TRANSFER_WINDOW_GROWTH = 8
"""A transfers page reads the journal in windows of entry seq, the first as wide as twice
the rows asked for (at least 256 entries: a page of a merchant with most of the journal
reads about twice what it needs), each next one 8 times wider (see `_windowed`)."""

T = TypeVar("T")
K = TypeVar("K")


def scan(
    fetch: Callable[[K | None, int], Sequence[T]],
    key_of: Callable[[T], K],
    keep: Callable[[T], bool],
    *,
    after: K | None,
    limit: int,
    batch_min: int = 0,
) -> tuple[list[T], K | None]:
    """Up to `limit` rows that `keep` takes, read in key order after `after`, and the key
    to go on from (None: nothing is left). One row more than needed is asked for, so the
    last page says it is the last; at least `batch_min` when `keep` refuses many."""
    kept: list[T] = []
    last, scanned = after, 0
    while True:
        asked = max(limit - len(kept) + 1, batch_min)
        batch = fetch(last, asked)
        for row in batch:
            if len(kept) == limit or scanned >= SCAN_ROWS_MAX:
                return kept, last
            last, scanned = key_of(row), scanned + 1
            if keep(row):
                kept.append(row)
        if len(batch) < asked:
            return kept, None


class BillQueries:
    """Reads for bill queries and exports, on the reports engine (a bounded pool that may
    point at a read replica): a month-end storm of queries never takes a payment's
    connection."""

    def __init__(self, bills: Bills) -> None:
        self.bills = bills

    def _cipher(self) -> FieldCipher | None:
        """What opens orders' sealed details: the payments cipher of Bills' engine (or of
        its reports engine, as a bill worker registers it)."""
        return cipher_for(self.bills.engine) or cipher_for(self.bills.read_engine)

    def page(
        self,
        what: What,
        merchant_id: str,
        filters: Filters,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> Page:
        check_filters(what, filters)
        size = page_size(limit)
        query = fingerprint(what, merchant_id, filters)
        # An empty cursor is the first page (`?after=` as a client's first request).
        parts = decode_cursor(what, query, after) if after else None
        if what is What.ORDERS:
            return self._orders(merchant_id, filters, query, parts, size)
        if what is What.TRANSFERS:
            return self._transfers(merchant_id, filters, query, parts, size)
        return self._lines(merchant_id, filters, query, parts, size)

    def rows(self, what: What, merchant_id: str, filters: Filters) -> Iterator[Row]:
        """Every row of the query, for an export: memory stays one batch whatever the
        month holds. Orders come from one streamed statement (`order_lines`), transfers
        a page at a time (no connection is held between pages)."""
        if what is What.LINES:
            check_filters(what, filters)
            yield from self._statement_rows(merchant_id, filters)
            return
        if what is What.ORDERS:
            columns = COLUMNS[What.ORDERS]
            for line in self.order_lines(merchant_id, filters):
                yield dict(zip(columns, line, strict=True))
            return
        after: str | None = None
        while True:
            found = self.page(what, merchant_id, filters, after=after, limit=PAGE_SIZE_MAX)
            yield from found.rows
            if found.next_cursor is None:
                return
            after = found.next_cursor

    def order_lines(self, merchant_id: str, filters: Filters) -> Iterator[OrderLine]:
        """Every order of the query as a tuple of COLUMNS[What.ORDERS]'s values, from
        one statement on one reports connection, held until the last row is read.

        One statement rather than keyset pages: an export reads the month once, in
        order, and needs no cursor to resume from. With the plain rows of
        `query_store.order_stream` and `query_rows.order_lines`, a line of the bench's
        million-line export costs 13 µs of CPU instead of 26 (bench/bills.py, on
        PostgreSQL). The connection is held as long as the export runs: the HTTP route
        holds its admission slot as long (admission.py), and a statement timeout bounds
        each fetch on PostgreSQL (reports_pool.py)."""
        check_filters(What.ORDERS, filters)
        where = _order_where(merchant_id, filters)
        with self.bills.read_engine.connect() as conn:
            rows = store.order_stream(conn, where, fetch_rows=EXPORT_FETCH_ROWS)
            yield from order_lines(rows, self._cipher())

    def count(self, what: What, merchant_id: str, filters: Filters, *, cap: int | None) -> int:
        """How many rows the query holds (at most cap + 1 when capped)."""
        check_filters(what, filters)
        if what is What.LINES:
            return len(self._statement_rows(merchant_id, filters))
        with one_read(self.bills.read_engine) as conn:
            if what is What.ORDERS:
                return store.count_orders(conn, _order_where(merchant_id, filters), cap=cap)
            where = _transfer_where(merchant_id, filters)
            return store.count_transfers(conn, where, cap=cap)

    def _orders(
        self, merchant_id: str, filters: Filters, query: str, parts: list[str] | None, size: int
    ) -> Page:
        where = _order_where(merchant_id, filters)
        with one_read(self.bills.read_engine) as conn:
            found, last = scan(
                lambda key, n: store.order_page(conn, where, after=key, limit=n),
                lambda row: (row.created_at, row.id),
                lambda _row: True,
                after=order_key(parts) if parts is not None else None,
                limit=size,
            )
        cursor = None
        if last is not None:
            cursor = encode_cursor(What.ORDERS, query, order_cursor_key(*last))
        cipher = self._cipher()
        return Page([order_row(r, cipher) for r in found], cursor)

    def _transfers(
        self, merchant_id: str, filters: Filters, query: str, parts: list[str] | None, size: int
    ) -> Page:
        where = _transfer_where(merchant_id, filters)
        kind = filters.kind
        with one_read(self.bills.read_engine) as conn:
            top = store.last_seq(conn)

            def fetch(after: int | None, limit: int) -> list[Row]:
                return [
                    transfer_row(r) | {"_seq": r.seq}
                    for r in _windowed(conn, where, after=after, top=top, limit=limit)
                ]

            found, last = scan(
                fetch,
                lambda row: int(row["_seq"] or 0),
                lambda row: kind is None or row["category"] == kind,
                after=transfer_key(parts) if parts is not None else None,
                limit=size,
                batch_min=0 if kind is None else FILTERED_BATCH_ROWS,
            )
        for row in found:
            del row["_seq"]
        cursor = encode_cursor(What.TRANSFERS, query, (last,)) if last is not None else None
        return Page(found, cursor)

    def _lines(
        self, merchant_id: str, filters: Filters, query: str, parts: list[str] | None, size: int
    ) -> Page:
        lines = self._statement_rows(merchant_id, filters)
        after = line_key(parts) if parts is not None else None
        found, last = scan(
            lambda key, n: [r for r in lines if key is None or line_key_of(r) > key][:n],
            line_key_of,
            lambda _row: True,
            after=after,
            limit=size,
        )
        cursor = encode_cursor(What.LINES, query, last) if last is not None else None
        return Page(found, cursor)

    def _statement_rows(self, merchant_id: str, filters: Filters) -> list[Row]:
        """The statement's lines that pass the filters, in `statement_lines` order. A
        statement is per account and category (never per entry), so it is small."""
        if filters.period is None:
            raise Rejected("period_required", "statement lines are of a month or a day")
        statement = self.bills.statement(merchant_id, filters.period.label, owner_id=filters.owner)
        rows = [line_row(line) for line in statement_lines(statement)]
        wanted = {"line": filters.kind, "product": filters.product, "channel": filters.channel}
        rows = [r for r in rows if all(v is None or r[k] == v for k, v in wanted.items())]
        return sorted(rows, key=line_key_of)


def _windowed(
    conn: Any, where: store.TransferWhere, *, after: int | None, top: int, limit: int
) -> list[Any]:
    """Up to `limit` transfers after `after`, read in windows of the journal's seq that
    grow until they hold enough (a merchant with few entries among many) or reach `top`,
    the journal's end when the page began: each read is bounded by its window."""
    found: list[Any] = []
    low = after or 0
    window = max(TRANSFER_WINDOW_PER_ROW * limit, TRANSFER_WINDOW_MIN)
    while len(found) < limit:
        high = min(low + window, top)
        found += store.transfer_page(conn, where, after=low, until=high, limit=limit - len(found))
        if high >= top:
            break
        low = high  # the window held fewer than asked for: everything up to `high` is read
        window *= TRANSFER_WINDOW_GROWTH
    return found


def _order_where(merchant_id: str, filters: Filters) -> store.OrderWhere:
    return store.OrderWhere(
        merchant_id=merchant_id,
        window=_window(filters.period),
        product=filters.product,
        channel=filters.channel,
        status=filters.status,
        kind=filters.kind,
    )


def _transfer_where(merchant_id: str, filters: Filters) -> store.TransferWhere:
    return store.TransferWhere(
        merchant_id=merchant_id,
        window=_window(filters.period),
        status=filters.status,
        counterparty=filters.counterparty,
    )


def _window(period: Period | None) -> store.Window:
    return store.Window() if period is None else store.Window(period.start, period.end)
