"""Bill exports as CSV and XLSX: the rows of the query, money as integers of minor units
beside the currency, text never run as a formula, streamed over HTTP to the merchant
whose bill it is, and in memory that does not grow with the number of rows."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from paycore.bills import export_api, exports
from paycore.bills.cli import bills_app
from paycore.bills.exports import (
    CSV_BOM,
    Format,
    cell_text,
    csv_chunks,
    write_csv,
    write_file,
    write_xlsx,
)
from paycore.bills.queries import COLUMNS, BillQueries, Filters, Row, What, filters_of
from tests.bills.conftest import FIELD_KEYS, Shop, new_shop
from tests.bills.exports_kit import (
    bill_client,
    export_jobs,
    golden_orders,
    insert_orders,
    order_rows,
    read_xlsx,
)

NOVEMBER = datetime(2026, 11, 3, tzinfo=UTC)


def parse_csv(content: bytes) -> list[list[str]]:
    text = content.decode("utf-8")
    assert text.startswith(CSV_BOM)
    return list(csv.reader(io.StringIO(text[1:])))


def as_text(row: Row, columns: tuple[str, ...]) -> list[str]:
    return ["" if row[c] is None else cell_text(str(row[c])) for c in columns]


@pytest.fixture
def rows_of(billed_merchant: Shop):
    queries = BillQueries(billed_merchant.runtime.bills)

    def rows(what: What, filters: Filters) -> list[Row]:
        return list(queries.rows(what, billed_merchant.merchant_id, filters))

    return rows


@pytest.mark.parametrize("what", list(What))
def test_a_csv_export_holds_the_querys_rows_under_its_header(
    billed_merchant: Shop, rows_of, what: What
) -> None:
    filters = filters_of({"month": "2026-11"})
    expected = rows_of(what, filters)
    out = io.BytesIO()
    written = write_csv(iter(expected), COLUMNS[what], out)

    table = parse_csv(out.getvalue())
    assert table[0] == list(COLUMNS[what])
    assert table[1:] == [as_text(r, COLUMNS[what]) for r in expected]
    assert written == len(expected) > 0


@pytest.mark.parametrize("what", list(What))
def test_an_xlsx_export_holds_the_same_cells_with_money_as_numbers(
    billed_merchant: Shop, rows_of, tmp_path: Path, what: What
) -> None:
    filters = filters_of({"month": "2026-11"})
    expected = rows_of(what, filters)
    path = tmp_path / "bill.xlsx"
    write_xlsx(iter(expected), COLUMNS[what], path, sheet=what.value)

    sheet = read_xlsx(path.read_bytes())[what.value]
    assert sheet[0] == list(COLUMNS[what])
    body = [row + [None] * (len(COLUMNS[what]) - len(row)) for row in sheet[1:]]
    assert body == [[r[c] for c in COLUMNS[what]] for r in expected]
    money = [c for c in COLUMNS[what] if c.endswith("_minor")]
    assert all(type(r[c]) in (int, type(None)) for r in expected for c in money)


def test_text_a_person_typed_is_never_a_formula_in_csv_or_xlsx(shop: Shop, tmp_path: Path) -> None:
    typed = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "plain =", "\tx"]
    for description in typed:
        insert_orders(shop.runtime.engine, order_rows(shop.merchant_id, 1, start=NOVEMBER,
                                                      description=description))  # fmt: skip
    rows = list(BillQueries(shop.runtime.bills).rows(What.ORDERS, shop.merchant_id, Filters()))
    out = io.BytesIO()
    write_csv(iter(rows), COLUMNS[What.ORDERS], out)
    write_xlsx(iter(rows), COLUMNS[What.ORDERS], tmp_path / "x.xlsx")

    column = COLUMNS[What.ORDERS].index("description")
    in_csv = [line[column] for line in parse_csv(out.getvalue())[1:]]
    assert sorted(in_csv) == sorted(["'" + t if t[0] in "=+-@\t" else t for t in typed])
    with __import__("zipfile").ZipFile(tmp_path / "x.xlsx") as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no cell of the workbook is a formula


def test_an_integer_beyond_excels_precision_is_written_as_text_not_rounded(
    tmp_path: Path,
) -> None:
    row: Row = {"amount_minor": 2**62, "small": 12}
    write_xlsx(iter([row]), ("amount_minor", "small"), tmp_path / "big.xlsx")

    assert read_xlsx((tmp_path / "big.xlsx").read_bytes())["export"][1] == [str(2**62), 12]


def test_an_empty_export_is_the_header_alone(tmp_path: Path) -> None:
    out = io.BytesIO()
    write_csv(iter([]), COLUMNS[What.ORDERS], out)
    write_xlsx(iter([]), COLUMNS[What.ORDERS], tmp_path / "e.xlsx")

    assert parse_csv(out.getvalue()) == [list(COLUMNS[What.ORDERS])]
    assert read_xlsx((tmp_path / "e.xlsx").read_bytes())["export"] == [list(COLUMNS[What.ORDERS])]


def _rows(count: int) -> Iterator[Row]:
    for n in range(count):
        yield {
            "id": f"pay_{n:012d}",
            "description": f"房租 flat {n % 97}",
            "amount_minor": 100_000 + n,
            "currency": "CNY",
        }


def _peak(fmt: Format, count: int, path: Path) -> int:
    tracemalloc.start()
    try:
        write_file(_rows(count), ("id", "description", "amount_minor", "currency"), path, fmt)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("fmt", "small", "large"), [(Format.CSV, 10_000, 100_000),
                                                     (Format.XLSX, 5_000, 50_000)])  # fmt: skip
def test_writing_ten_times_the_rows_takes_no_more_memory(
    tmp_path: Path, fmt: Format, small: int, large: int
) -> None:
    """Constant memory: the peak for 10x the rows stays within 1.5x of the smaller
    export's (a writer holding every row would need about 10x)."""
    few = _peak(fmt, small, tmp_path / f"few.{fmt.value}")
    many = _peak(fmt, large, tmp_path / f"many.{fmt.value}")

    assert many < few * 1.5 + 64 * 1024, (few, many)


# -- HTTP and CLI --------------------------------------------------------------------------


def test_a_merchant_streams_its_own_orders_as_csv_and_xlsx(
    billed_merchant: Shop, rows_of, tmp_path: Path
) -> None:
    m = billed_merchant.merchant_id
    expected = rows_of(What.ORDERS, filters_of({"month": "2026-11"}))
    jobs = export_jobs(billed_merchant.runtime, tmp_path)
    with bill_client(billed_merchant.runtime, jobs, billed_merchant.key) as http:
        as_csv = http.get(f"/v1/bills/{m}/orders.csv?month=2026-11")
        as_xlsx = http.get(f"/v1/bills/{m}/orders.xlsx", params={"month": "2026-11"})

    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "2026-11.csv" in as_csv.headers["content-disposition"]
    assert parse_csv(as_csv.content)[1:] == [as_text(r, COLUMNS[What.ORDERS]) for r in expected]
    assert as_xlsx.status_code == 200
    assert len(read_xlsx(as_xlsx.content)["orders"]) == len(expected) + 1


def test_json_pages_chain_by_next_cursor_and_refuse_a_bad_one(
    billed_merchant: Shop, rows_of, tmp_path: Path
) -> None:
    m = billed_merchant.merchant_id
    expected = rows_of(What.TRANSFERS, Filters())
    jobs = export_jobs(billed_merchant.runtime, tmp_path)
    seen: list[Row] = []
    with bill_client(billed_merchant.runtime, jobs, billed_merchant.key) as http:
        after = ""
        while True:
            page = http.get(f"/v1/bills/{m}/transfers", params={"after": after, "limit": 4})
            assert page.status_code == 200, page.text
            seen.extend(page.json()["data"])
            if page.json()["next_cursor"] is None:
                break
            after = page.json()["next_cursor"]
        bad = http.get(f"/v1/bills/{m}/orders", params={"after": "garbage!"})
        lines = http.get(f"/v1/bills/{m}/lines", params={"month": "2026-11", "limit": 3})

    assert seen == expected
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")
    assert bad.headers["content-type"] == "application/problem+json"
    assert lines.status_code == 200 and len(lines.json()["data"]) == 3


def test_a_merchant_key_sees_no_other_merchants_bills(
    billed_merchant: Shop, tmp_path: Path
) -> None:
    rt = billed_merchant.runtime
    other = new_shop(rt, billed_merchant.clock, billed_merchant.alpha, "Other")
    jobs = export_jobs(rt, tmp_path)
    m = billed_merchant.merchant_id
    with bill_client(rt, jobs, other.key) as http:
        answers = [
            http.get(f"/v1/bills/{m}/orders"),
            http.get(f"/v1/bills/{m}/transfers.csv"),
            http.get(f"/v1/bills/{m}/lines?month=2026-11"),
            http.post(f"/v1/bills/{m}/exports", json={"what": "orders"}),
        ]
    for answer in answers:
        assert (answer.status_code, answer.json()["code"]) == (404, "merchant_not_found")


def test_every_query_and_export_route_takes_the_month_end_limits(
    billed_merchant: Shop, tmp_path: Path
) -> None:
    """The routes take `admit` (admission.py owns its limits and their statuses): past a
    merchant's burst, queries, streamed exports and export jobs alike are refused."""
    m = billed_merchant.merchant_id
    jobs = export_jobs(billed_merchant.runtime, tmp_path)
    paths = [f"/v1/bills/{m}/orders", f"/v1/bills/{m}/transfers.csv", f"/v1/bills/{m}/lines"]
    with bill_client(billed_merchant.runtime, jobs, billed_merchant.key, limits=True) as http:
        answers = [http.get(paths[n % 3]) for n in range(30)]
        export = http.post(f"/v1/bills/{m}/exports", json={"what": "orders"})

    refused = {a.json()["code"] for a in answers[-3:]} | {export.json()["code"]}
    assert refused <= {"bills_rate_limited", "bills_busy"}, refused
    assert all(a.status_code == 200 for a in answers[:9] if not a.url.path.endswith("lines"))


def test_a_streamed_export_too_large_for_one_request_is_sent_to_the_jobs(
    billed_merchant: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_api, "EXPORT_SYNC_ROWS_MAX", 2)
    jobs = export_jobs(billed_merchant.runtime, tmp_path)
    with bill_client(billed_merchant.runtime, jobs, billed_merchant.key) as http:
        answer = http.get(f"/v1/bills/{billed_merchant.merchant_id}/orders.csv")

    assert (answer.status_code, answer.json()["code"]) == (413, "export_too_large")


def test_the_command_line_exports_with_progress_and_queries_as_a_table(
    billed_merchant: Shop, rows_of, database_url: str, tmp_path: Path
) -> None:
    m = billed_merchant.merchant_id
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path),
        "PAYCORE_FIELD_KEYS": FIELD_KEYS,
    }
    out = tmp_path / "nov.xlsx"
    runner = CliRunner()
    exported = runner.invoke(
        bills_app,
        ["export", "--merchant", m, "--month", "2026-11", "--what", "transfers",
         "--format", "xlsx", "--out", str(out)],
        env=env,
    )  # fmt: skip
    queried = runner.invoke(
        bills_app, ["query", "--merchant", m, "--what", "orders", "--limit", "2"], env=env
    )
    refused = runner.invoke(bills_app, ["query", "--merchant", m, "--what", "lines"], env=env)

    expected = rows_of(What.TRANSFERS, filters_of({"month": "2026-11"}))
    assert exported.exit_code == 0, exported.output
    assert f"{len(expected)} rows" in exported.output
    assert len(read_xlsx(out.read_bytes())["transfers"]) == len(expected) + 1
    assert queried.exit_code == 0 and "next_cursor: " in queried.output
    assert "100000" in queried.output and "50000" in queried.output
    assert refused.exit_code == 2 and "period_required" in refused.output


# -- byte for byte -------------------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden"


def test_an_orders_export_is_byte_for_byte_the_one_the_earlier_writer_made(shop: Shop) -> None:
    """tests/bills/golden/orders.csv and .json were written by the exporter before it
    streamed tuples (keyset pages of dicts): whole seconds, a Shanghai midnight, summer
    time of 1988, names that are not strings, formulas, quotes and newlines."""
    insert_orders(shop.runtime.engine, golden_orders(shop.merchant_id))
    queries = BillQueries(shop.runtime.bills)
    rows = list(queries.rows(What.ORDERS, shop.merchant_id, Filters()))
    out = io.BytesIO()
    write_csv(iter(rows), COLUMNS[What.ORDERS], out)
    streamed = b"".join(csv_chunks(queries.rows(What.ORDERS, shop.merchant_id, Filters()),
                                   COLUMNS[What.ORDERS]))  # fmt: skip
    pages, after = [], None
    while True:
        page = queries.page(What.ORDERS, shop.merchant_id, Filters(), after=after, limit=4)
        pages += page.rows
        if (after := page.next_cursor) is None:
            break

    assert out.getvalue() == streamed == (GOLDEN / "orders.csv").read_bytes()
    assert rows == pages == json.loads((GOLDEN / "orders.json").read_text())


_CELLS = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.text(alphabet='=+-@\t\r\n,"a 张', max_size=6),
)


@given(st.lists(st.lists(_CELLS, min_size=3, max_size=3), max_size=12))
@example([["a", 1, None]] * 4 + [["=1,2", 1, None]])
def test_every_text_cell_that_starts_as_a_formula_is_quoted_and_nothing_else_changes(
    cells: list[list[str | int | None]],
) -> None:
    """Chunks of 4 rows: a formula may start a chunk, sit in its first or last column,
    or hide after a comma or a newline inside quoted text; a negative number is never
    a formula."""
    rows: list[Row] = [dict(zip("abc", values, strict=True)) for values in cells]
    out = io.BytesIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(exports, "CSV_CHUNK_ROWS", 4)
        written = write_csv(iter(rows), ("a", "b", "c"), out)

    expected = [["" if v is None else cell_text(v) if isinstance(v, str) else str(v)
                 for v in values] for values in cells]  # fmt: skip
    assert parse_csv(out.getvalue()) == [["a", "b", "c"], *expected]
    assert written == len(rows)
