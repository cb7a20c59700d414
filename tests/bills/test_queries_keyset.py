"""Keyset paging under writes: while one thread pages through a merchant's orders or
transfers, another writes new ones (ahead of the reader and behind it). Every row that
was there before the reader started is seen exactly once, and no row twice. A cursor is
read, never trusted: any text is a page or a refusal, never a crash."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycore.bills import queries as queries_module
from paycore.bills.queries import (
    BillQueries,
    Filters,
    What,
    decode_cursor,
    encode_cursor,
    fingerprint,
)
from paycore.errors import Rejected
from paycore.ledger.model import TransferRequest
from paycore.ledger.service import AccountRequest
from paycore.runtime import Runtime
from tests.bills.conftest import Shop
from tests.bills.exports_kit import insert_orders, order_rows

PAGE = 7


def _read_all(queries: BillQueries, what: What, merchant: str, stop: threading.Event) -> list:
    seen, after = [], None
    try:
        while True:
            page = queries.page(what, merchant, Filters(), after=after, limit=PAGE)
            seen.extend(r["id"] for r in page.rows)
            if page.next_cursor is None:
                return seen
            after = page.next_cursor
    finally:
        stop.set()


def test_paging_orders_while_orders_are_written_sees_each_existing_order_once(
    shop: Shop,
) -> None:
    engine, merchant = shop.runtime.engine, shop.merchant_id
    start = datetime(2026, 11, 1, tzinfo=UTC)
    before = order_rows(merchant, 300, start=start, step_s=60)
    insert_orders(engine, before)
    stop = threading.Event()
    written: list[str] = []

    def write() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            # Alternately ahead of every existing order and between existing ones (behind
            # a reader that is already past them): offsets would shift, keys do not.
            at = start + timedelta(seconds=(10**6 + n if n % 2 else n * 37 + 30))
            rows = order_rows(merchant, 1, start=at)
            insert_orders(engine, rows)
            written.append(str(rows[0]["id"]))
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    seen = _read_all(BillQueries(shop.runtime.bills), What.ORDERS, merchant, stop)
    writer.join()

    assert len(seen) == len(set(seen))
    assert {r["id"] for r in before} <= set(seen)
    assert set(seen) <= {r["id"] for r in before} | set(written)
    assert written, "the writer wrote while the reader paged"


def test_paging_transfers_while_transfers_post_sees_each_existing_transfer_once(
    shop: Shop,
) -> None:
    ledger, m = shop.runtime.ledger, shop.merchant_id
    ledger.create_accounts(
        [
            AccountRequest(id="acct_kx_outside", currency="CNY"),
            AccountRequest(id=f"acct_kx_{m}_a", currency="CNY", owner_id=m),
            AccountRequest(id=f"acct_kx_{m}_b", currency="CNY", owner_id=f"{m}:store1"),
        ]
    )

    def move(n: int, prefix: str) -> str:
        credit = f"acct_kx_{m}_a" if n % 2 else f"acct_kx_{m}_b"
        request = TransferRequest(
            id=f"{prefix}{n}",
            debit_account_id="acct_kx_outside",
            credit_account_id=credit,
            amount=100 + n,
            currency="CNY",
            code=1,
        )
        [result] = ledger.create_transfers([request])
        assert result.result == "created"
        return request.id

    before = [move(n, "tr_before_") for n in range(200)]
    stop = threading.Event()
    written: list[str] = []

    def write() -> None:
        n = 0
        while not stop.is_set() and n < 300:
            written.append(move(n, "tr_during_"))
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    seen = _read_all(BillQueries(shop.runtime.bills), What.TRANSFERS, m, stop)
    writer.join()

    assert len(seen) == len(set(seen))
    assert set(before) <= set(seen) <= set(before) | set(written)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.binary(max_size=60).map(lambda b: b.hex()))
def test_any_text_as_a_cursor_is_refused_with_a_stable_code(text: str) -> None:
    for what in What:
        try:
            decode_cursor(what, "q", text)
        except Rejected as refused:
            assert refused.code in ("invalid_cursor", "cursor_mismatch")


_PART = st.text(max_size=24) | st.integers(min_value=-(2**70), max_value=2**70).map(str)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(what=st.sampled_from([What.ORDERS, What.TRANSFERS]), parts=st.lists(_PART, max_size=6))
def test_a_forged_cursor_of_the_right_query_is_a_page_or_invalid_cursor_never_a_crash(
    runtime: Runtime, what: What, parts: list[str]
) -> None:
    queries = BillQueries(runtime.bills)
    query = fingerprint(what, "mch_x", Filters())
    cursor = encode_cursor(what, query, parts)
    try:
        page = queries.page(what, "mch_x", Filters(), after=cursor, limit=3)
    except Rejected as refused:
        assert refused.code == "invalid_cursor"
    else:
        assert page.rows == []


def test_transfers_of_a_merchant_among_many_page_the_same_through_narrow_windows(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page reads the journal in windows of entry seq that grow until they hold enough:
    with windows of 1 entry growing 2x, a merchant whose entries are few among another's
    still gets every transfer once, in journal order, with full pages."""
    ledger, m = shop.runtime.ledger, shop.merchant_id
    ledger.create_accounts(
        [
            AccountRequest(id="acct_kx_outside", currency="CNY"),
            AccountRequest(id=f"acct_kx_{m}", currency="CNY", owner_id=m),
            AccountRequest(id="acct_kx_busy", currency="CNY", owner_id="mch_busy"),
        ]
    )
    mine = []
    for n in range(120):
        credit = f"acct_kx_{m}" if n % 9 == 0 or 40 <= n < 50 else "acct_kx_busy"
        request = TransferRequest(
            id=f"tr_kx_{n}",
            debit_account_id="acct_kx_outside",
            credit_account_id=credit,
            amount=1 + n,
            currency="CNY",
            code=1,
        )
        assert ledger.create_transfers([request])[0].result == "created"
        if credit != "acct_kx_busy":
            mine.append(request.id)
    queries = BillQueries(shop.runtime.bills)
    wide, _ = _pages(queries, m, 4)
    monkeypatch.setattr(queries_module, "TRANSFER_WINDOW_PER_ROW", 0)
    monkeypatch.setattr(queries_module, "TRANSFER_WINDOW_MIN", 1)
    monkeypatch.setattr(queries_module, "TRANSFER_WINDOW_GROWTH", 2)
    narrow, sizes = _pages(queries, m, 4)

    assert narrow == wide == mine
    assert all(size == 4 for size in sizes[:-1])


def _pages(queries: BillQueries, merchant: str, limit: int) -> tuple[list[str], list[int]]:
    ids, sizes, after = [], [], None
    while True:
        page = queries.page(What.TRANSFERS, merchant, Filters(), after=after, limit=limit)
        ids += [str(r["id"]) for r in page.rows]
        sizes.append(len(page.rows))
        if page.next_cursor is None:
            return ids, sizes
        after = page.next_cursor
