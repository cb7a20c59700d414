"""Bill queries: a merchant's orders, transfers and statement lines, filtered, in pages
found by key; every row once, in a stable order, whatever is written meanwhile."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st
from sqlalchemy import select

from paycore.bills import queries as queries_module
from paycore.bills.model import bill_day_of, statement_lines
from paycore.bills.queries import (
    COLUMNS,
    BillQueries,
    Filters,
    Page,
    What,
    filters_of,
    line_row,
)
from paycore.bills.query_rows import order_lines, order_row
from paycore.errors import Rejected
from paycore.ledger.store import accounts, transfers
from paycore.payments.store import orders
from tests.bills.conftest import Shop, new_shop
from tests.bills.exports_kit import insert_orders, order_rows


def every_page(queries: BillQueries, what: What, merchant: str, filters: Filters, limit: int):
    """All rows of a query, page after page, and the pages' sizes."""
    rows, sizes, after = [], [], None
    while True:
        page: Page = queries.page(what, merchant, filters, after=after, limit=limit)
        rows.extend(page.rows)
        sizes.append(len(page.rows))
        if page.next_cursor is None:
            return rows, sizes
        after = page.next_cursor


def month(label: str, **more: str) -> Filters:
    return filters_of({"month": label, **more})


ARABIC_INDIC_DAY = "\u0662\u0660\u0662\u0666-\u0661\u0661-\u0660\u0661"
"""2026-11-01 in Arabic-Indic digits: date.fromisoformat would read it; a bill does not."""


@pytest.fixture
def queries(billed_merchant: Shop) -> BillQueries:
    return BillQueries(billed_merchant.runtime.bills)


def test_a_months_orders_come_in_time_order_each_once_across_pages(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    m = billed_merchant.merchant_id
    november = month("2026-11")
    with billed_merchant.runtime.engine.connect() as conn:
        expected = (
            conn.execute(
                select(orders.c.id)
                .where(
                    orders.c.merchant_id == m,
                    orders.c.created_at >= november.period.start,
                    orders.c.created_at < november.period.end,
                )
                .order_by(orders.c.created_at, orders.c.id)
            )
            .scalars()
            .all()
        )

    for limit in (1, 2, 3, 100):
        rows, sizes = every_page(queries, What.ORDERS, m, november, limit)
        assert [r["id"] for r in rows] == expected
        assert all(size == limit for size in sizes[:-1])
    assert len(expected) >= 5


def test_months_are_shanghai_months(billed_merchant: Shop, queries: BillQueries) -> None:
    """23:30 on 31 October in Shanghai is October; 00:30 on 1 November is November, though
    both are 31 October in UTC."""
    m = billed_merchant.merchant_id
    october, _ = every_page(queries, What.ORDERS, m, month("2026-10"), 100)
    november, _ = every_page(queries, What.ORDERS, m, month("2026-11"), 100)

    assert "2026-10-31" in {r["bill_date"] for r in october}
    assert "2026-11-01" in {r["bill_date"] for r in november}
    assert {r["bill_date"][:7] for r in october} == {"2026-10"}
    assert {r["bill_date"][:7] for r in november} == {"2026-11"}
    assert not {r["id"] for r in october} & {r["id"] for r in november}


def test_a_day_and_a_range_of_days_select_the_orders_of_those_shanghai_days(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    m = billed_merchant.merchant_id
    whole, _ = every_page(queries, What.ORDERS, m, Filters(), 100)
    first = filters_of({"day": "2026-11-01"})
    span = filters_of({"from": "2026-10-31", "to": "2026-11-01"})
    opened = filters_of({"from": "2026-11-02"})

    def ids(filters: Filters) -> list[object]:
        return [r["id"] for r in every_page(queries, What.ORDERS, m, filters, 100)[0]]

    assert ids(first) == [r["id"] for r in whole if r["bill_date"] == "2026-11-01"]
    assert ids(span) == [r["id"] for r in whole if r["bill_date"] in ("2026-10-31", "2026-11-01")]
    assert ids(opened) == [r["id"] for r in whole if str(r["bill_date"]) >= "2026-11-02"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("product", "deposit"), ("status", "succeeded"), ("kind", "payout"), ("channel", "alpha")],
)
def test_each_order_filter_keeps_exactly_the_orders_that_match(
    billed_merchant: Shop, queries: BillQueries, name: str, value: str
) -> None:
    m = billed_merchant.merchant_id
    whole, _ = every_page(queries, What.ORDERS, m, Filters(), 100)
    found, _ = every_page(queries, What.ORDERS, m, filters_of({name: value}), 2)

    assert found == [r for r in whole if r[name] == value]
    assert found


def test_orders_are_money_in_minor_units_beside_the_currency(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    rows, _ = every_page(queries, What.ORDERS, billed_merchant.merchant_id, Filters(), 100)
    first = next(r for r in rows if r["amount_minor"] == 100_000)

    assert (first["currency"], first["fee_minor"], first["refunded_minor"]) == ("CNY", 1000, 20_000)
    assert all(type(r["amount_minor"]) is int for r in rows)


def test_no_merchant_sees_another_merchants_orders_or_transfers(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    rt = billed_merchant.runtime
    other = new_shop(rt, billed_merchant.clock, billed_merchant.alpha, "Other Shop")
    other.payin(7_000)

    mine, _ = every_page(queries, What.TRANSFERS, billed_merchant.merchant_id, Filters(), 100)
    theirs, _ = every_page(queries, What.TRANSFERS, other.merchant_id, Filters(), 100)
    their_orders, _ = every_page(queries, What.ORDERS, other.merchant_id, Filters(), 100)

    assert [r["amount_minor"] for r in their_orders] == [7_000]
    assert {r["id"] for r in theirs} and not {r["id"] for r in mine} & {r["id"] for r in theirs}


def _touching(shop: Shop) -> set[str]:
    """Ids of every transfer with a side on an account of the merchant or its owners."""
    m = shop.merchant_id
    with shop.runtime.engine.connect() as conn:
        owned = set(
            conn.execute(
                select(accounts.c.id).where(
                    (accounts.c.owner_id == m) | accounts.c.owner_id.startswith(f"{m}:")
                )
            ).scalars()
        )
        found = conn.execute(select(transfers.c.id, transfers.c.debit_account_id,
                                    transfers.c.credit_account_id)).all()  # fmt: skip
    return {t.id for t in found if t.debit_account_id in owned or t.credit_account_id in owned}


def test_every_transfer_touching_the_merchants_accounts_is_listed_once(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    rows, _ = every_page(queries, What.TRANSFERS, billed_merchant.merchant_id, Filters(), 3)
    ids = [r["id"] for r in rows]

    assert len(ids) == len(set(ids))
    assert set(ids) == _touching(billed_merchant)


def test_a_transfer_between_two_of_the_merchants_accounts_is_its_own_money_moving(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    m = billed_merchant.merchant_id
    rows, _ = every_page(queries, What.TRANSFERS, m, Filters(), 100)
    split = next(r for r in rows if r["id"] == "tr_spl_oct1")
    payin = next(r for r in rows if r["category"] == "payin")

    assert (split["direction"], split["account_id"], split["counterparty"]) == (
        "own",
        billed_merchant.wallet,
        f"acct_uw_{m}_landlord",
    )
    assert (payin["direction"], payin["account_id"]) == ("in", billed_merchant.wallet)
    assert payin["order_id"] in billed_merchant.payins


def test_transfers_filter_by_kind_status_and_counterparty(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    m = billed_merchant.merchant_id
    whole, _ = every_page(queries, What.TRANSFERS, m, Filters(), 100)
    landlord = f"acct_uw_{m}_landlord"
    cases = [
        ({"kind": "payin"}, lambda r: r["category"] == "payin"),
        ({"kind": "reward"}, lambda r: r["category"] == "reward"),
        ({"status": "pending"}, lambda r: r["status"] == "pending"),
        ({"counterparty": landlord}, lambda r: r["counterparty"] == landlord),
        ({"month": "2026-11", "kind": "payin"},
         lambda r: r["category"] == "payin" and str(r["bill_date"]) >= "2026-11"),
    ]  # fmt: skip
    for given, keep in cases:
        found, _ = every_page(queries, What.TRANSFERS, m, filters_of(given), 2)
        assert found == [r for r in whole if keep(r)], given
        assert found, given


def test_statement_lines_page_in_the_statements_own_order(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    m = billed_merchant.merchant_id
    statement = billed_merchant.runtime.bills.statement(m, "2026-11")
    expected = [line_row(line) for line in statement_lines(statement)]

    for limit in (1, 4, 1000):
        rows, _ = every_page(queries, What.LINES, m, month("2026-11"), limit)
        assert rows == expected
    payins, _ = every_page(queries, What.LINES, m, month("2026-11", kind="payin"), 1)
    assert payins == [r for r in expected if r["line"] == "payin"] and payins


def test_statement_lines_of_one_wallet_owner(billed_merchant: Shop, queries: BillQueries) -> None:
    m = billed_merchant.merchant_id
    rows, _ = every_page(queries, What.LINES, m, month("2026-11", owner="landlord"), 5)

    assert {r["account_id"] for r in rows} == {f"acct_uw_{m}_landlord", f"acct_ur_{m}_landlord"}


def test_a_cursor_is_refused_when_it_is_not_one_paycore_made_for_this_query(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    m = billed_merchant.merchant_id
    cursor = queries.page(What.ORDERS, m, Filters(), limit=1).next_cursor
    transfer_cursor = queries.page(What.TRANSFERS, m, Filters(), limit=1).next_cursor
    assert cursor is not None and transfer_cursor is not None

    def forged(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    query = base64.urlsafe_b64decode(cursor + "==").decode().split("|")[2]
    cases = [
        (What.ORDERS, Filters(), "not a cursor!", "invalid_cursor"),
        (What.ORDERS, Filters(), "x" * 2000, "invalid_cursor"),
        (What.ORDERS, Filters(), forged("1|orders"), "invalid_cursor"),
        (What.ORDERS, Filters(), "_-_-", "invalid_cursor"),
        (What.ORDERS, Filters(), transfer_cursor, "invalid_cursor"),
        (What.ORDERS, filters_of({"product": "rent"}), cursor, "cursor_mismatch"),
        (What.ORDERS, Filters(), forged(f"1|orders|{query}|\u0661\u0662|pay_x"), "invalid_cursor"),
        (What.ORDERS, Filters(), forged(f"1|orders|{query}|²|pay_x"), "invalid_cursor"),
        (What.ORDERS, Filters(), forged(f"1|orders|{query}|99999999999999999999|p"),
         "invalid_cursor"),
        (What.ORDERS, Filters(), forged(f"1|orders|{query}|12"), "invalid_cursor"),
        (What.ORDERS, Filters(), forged(f"1|orders|{query}|12|"), "invalid_cursor"),
        (What.TRANSFERS, Filters(), forged("1|transfers|x|-1"), "cursor_mismatch"),
    ]  # fmt: skip
    for what, filters, after, code in cases:
        with pytest.raises(Rejected) as refused:
            queries.page(what, m, filters, after=after, limit=5)
        assert refused.value.code == code, (after, refused.value)


def test_a_cursor_of_another_merchant_is_refused(
    billed_merchant: Shop, queries: BillQueries
) -> None:
    cursor = queries.page(What.ORDERS, billed_merchant.merchant_id, Filters(), limit=1)
    with pytest.raises(Rejected, match="cursor_mismatch"):
        queries.page(What.ORDERS, "mch_someone_else", Filters(), after=cursor.next_cursor)


@pytest.mark.parametrize(
    ("what", "given", "code"),
    [
        (What.ORDERS, {"counterparty": "x"}, "filter_not_supported"),
        (What.TRANSFERS, {"product": "rent"}, "filter_not_supported"),
        (What.LINES, {}, "period_required"),
        (What.LINES, {"from": "2026-11-01"}, "filter_not_supported"),
        (What.ORDERS, {"kind": "gift"}, "invalid_filter"),
        (What.ORDERS, {"status": "lost"}, "invalid_filter"),
        (What.TRANSFERS, {"kind": "payout_sideways"}, "invalid_filter"),
        (What.ORDERS, {"month": "2026-13"}, "invalid_month"),
        (What.ORDERS, {"day": "2026-02-30"}, "invalid_date"),
        (What.ORDERS, {"day": ARABIC_INDIC_DAY}, "invalid_date"),
        (What.ORDERS, {"month": ARABIC_INDIC_DAY[:7]}, "invalid_month"),
        (What.ORDERS, {"from": "1999-12-31"}, "date_out_of_range"),
        (What.ORDERS, {"from": "2026-11-02", "to": "2026-11-01"}, "invalid_period"),
        (What.ORDERS, {"month": "2026-11", "day": "2026-11-01"}, "invalid_period"),
        (What.ORDERS, {"product": "a\x00b"}, "invalid_text"),
        (What.ORDERS, {"product": "p" * 65}, "invalid_filter"),
        (What.ORDERS, {"colour": "red"}, "filter_not_supported"),
    ],
)
def test_a_filter_that_can_never_match_is_refused_with_its_code(
    queries: BillQueries, what: What, given: dict[str, str], code: str
) -> None:
    with pytest.raises(Rejected) as refused:
        queries.page(what, "mch_x", filters_of(given))
    assert refused.value.code == code


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_a_page_size_outside_its_bounds_is_refused(queries: BillQueries, limit: int) -> None:
    with pytest.raises(Rejected, match="limit_out_of_range"):
        queries.page(What.ORDERS, "mch_x", Filters(), limit=limit)


def test_an_empty_query_is_one_empty_last_page(queries: BillQueries) -> None:
    page = queries.page(What.ORDERS, "mch_nobody", Filters())
    assert (page.rows, page.next_cursor) == ([], None)


def test_orders_at_the_same_instant_page_by_id(shop: Shop) -> None:
    at = datetime(2026, 11, 5, tzinfo=UTC)
    rows = order_rows(shop.merchant_id, 9, start=at, step_s=0)
    insert_orders(shop.runtime.engine, rows)
    found, _ = every_page(BillQueries(shop.runtime.bills), What.ORDERS, shop.merchant_id,
                         Filters(), 2)  # fmt: skip

    assert [r["id"] for r in found] == sorted(r["id"] for r in rows)


def test_an_orders_export_streamed_in_small_batches_holds_every_row_once_in_page_order(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries_module, "EXPORT_FETCH_ROWS", 7)
    at = datetime(2026, 11, 5, tzinfo=UTC)
    insert_orders(shop.runtime.engine, order_rows(shop.merchant_id, 50, start=at, step_s=0.5))
    queries = BillQueries(shop.runtime.bills)
    november = month("2026-11")
    paged, _ = every_page(queries, What.ORDERS, shop.merchant_id, november, 9)

    assert list(queries.rows(What.ORDERS, shop.merchant_id, november)) == paged
    assert len(paged) == 50


def _one_order_line(created: datetime, finished: datetime | str | None) -> tuple:
    (line,) = order_lines([("pay_1", "payin", created, None, "rent", "alpha", "succeeded",
                            "CNY", 1, 0, 0, None, None, finished, None)])  # fmt: skip
    return line


@hypothesis_given(
    st.datetimes(min_value=datetime(1850, 1, 1), max_value=datetime(2200, 1, 1)),
    st.sampled_from(["naive", "text"]),
)
def test_an_export_line_spells_instants_and_bill_days_as_a_page_row_does(
    at: datetime, form: str
) -> None:
    """Whatever the instant (Shanghai's local mean time before 1901, its summer times,
    whole seconds or not) and as SQLite's text or a naive UTC datetime, an export line
    says what `order_row` says: the bill day is looked up by UTC hour only where the
    zone keeps one date for the whole hour."""
    utc = at.replace(tzinfo=UTC)
    stored: datetime | str = at if form == "naive" else at.strftime("%Y-%m-%d %H:%M:%S.%f")
    line = dict(zip(COLUMNS[What.ORDERS], _one_order_line(stored, stored), strict=True))
    row = order_row(("pay_1", "payin", None, "rent", "alpha", "succeeded", 1, 0, 0, "CNY",
                     None, {}, utc, utc, None))  # fmt: skip

    assert (line["created_at"], line["bill_date"], line["finished_at"]) == (
        row["created_at"], row["bill_date"], row["finished_at"],
    )  # fmt: skip
    assert line["bill_date"] == bill_day_of(utc).isoformat()


def test_the_bill_day_of_an_hour_that_holds_a_shanghai_midnight_is_not_cached() -> None:
    """Before 1901 Shanghai kept local mean time (+08:05:43): its midnight fell at
    15:54:17 UTC, inside an hour, so two instants of one UTC hour are two bill days."""
    lines = order_lines(
        (f"pay_{n}", "payin", at, None, "rent", "alpha", "succeeded", "CNY", 1, 0, 0, None,
         None, None, None)
        for n, at in enumerate([datetime(1900, 6, 1, 15, 50), datetime(1900, 6, 1, 15, 58)])
    )  # fmt: skip
    assert [line[3] for line in lines] == ["1900-06-01", "1900-06-02"]
