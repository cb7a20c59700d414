"""What the query, export and export-job tests share: orders written straight to the
table (thousands, fast), an app whose export jobs write under the test's own folder, and
an XLSX reader (zipfile + XML: openpyxl is not installed)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from paycore.bills.admission import admit
from paycore.bills.export_jobs import ExportJobs
from paycore.bills.queries import BillQueries
from paycore.ids import new_id
from paycore.payments import details
from paycore.payments.store import orders
from paycore.runtime import Runtime
from paycore.web.app import create_app

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def order_rows(
    merchant_id: str,
    count: int,
    *,
    start: datetime,
    step_s: float = 60.0,
    product: str = "rent",
    status: str = "succeeded",
    description: str = "",
) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        at = start + timedelta(seconds=n * step_s)
        rows.append(
            {
                "id": new_id("pay"),
                "kind": "payin",
                "merchant_id": merchant_id,
                "merchant_reference": None,
                "product": product,
                "amount": 1_000 + n,
                "currency": "CNY",
                "fee_amount": 10,
                "status": status,
                "result_unknown": False,
                "channel": "alpha",
                "channel_txn_id": None,
                "failure_class": None,
                "failure_code": None,
                "failure_message": "",
                "parent_id": None,
                "refunded_amount": 0,
                "description": description,
                "party_enc": {},
                "party_masked": {"name": "张*"},
                "metadata": {},
                "expires_at": None,
                "created_at": at,
                "updated_at": at,
                "finished_at": at,
                "next_query_at": None,
                "query_attempts": 0,
                "version": 1,
            }
        )
    return rows


def insert_orders(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """The rows as payments store them: description and metadata sealed into one token
    (none without text), with the cipher the runtime registered for the engine."""
    with engine.begin() as conn:
        cipher = details.cipher_of(conn)
        sealed = []
        for row in rows:
            stored = {k: v for k, v in row.items() if k not in ("description", "metadata")}
            stored["details_enc"] = details.seal_order_details(
                cipher, row["id"], row.get("description", ""), row.get("metadata", {})
            )
            sealed.append(stored)
        conn.execute(insert(orders), sealed)


def export_jobs(runtime: Runtime, data_dir: Path) -> ExportJobs:
    return ExportJobs(
        engine=runtime.engine,
        queries=BillQueries(runtime.bills),
        clock=runtime.clock,
        data_dir=data_dir,
        link_key=b"k" * 32,
        cipher=runtime.cipher,  # kept files encrypted, as the runtime's jobs keep them
    )


async def _admitted() -> AsyncIterator[None]:
    yield


@contextmanager
def bill_client(
    runtime: Runtime, jobs: ExportJobs, key: str, *, limits: bool = False
) -> Iterator[TestClient]:
    """The app with `jobs` as its export jobs. The month-end limits (admission.py: 10
    requests a burst per merchant, a share of the process's time) are lifted unless
    `limits`: these tests page and download far faster than a person would."""
    app = create_app(runtime=runtime)
    app.state.bill_exports = jobs
    if not limits:
        app.dependency_overrides[admit] = _admitted
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def read_xlsx(content: bytes) -> dict[str, list[list[str | int | None]]]:
    """Every sheet's cells by row: numbers as int, strings as str (inline or shared)."""
    sheets: dict[str, list[list[str | int | None]]] = {}
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        shared = _shared_strings(book)
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        names = [s.get("name", "") for s in workbook.iter(f"{_MAIN}sheet")]
        for position, name in enumerate(names, start=1):
            xml = ElementTree.fromstring(book.read(f"xl/worksheets/sheet{position}.xml"))
            sheets[name] = [_row(r, shared) for r in xml.iter(f"{_MAIN}row")]
    return sheets


def _shared_strings(book: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in book.namelist():
        return []
    xml = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
    return ["".join(t.text or "" for t in si.iter(f"{_MAIN}t")) for si in xml.iter(f"{_MAIN}si")]


def _row(row: ElementTree.Element, shared: list[str]) -> list[str | int | None]:
    cells: list[str | int | None] = []
    for cell in row.iter(f"{_MAIN}c"):
        column = _column(cell.get("r", "A1"))
        cells.extend([None] * (column - len(cells)))
        kind = cell.get("t")
        if kind == "inlineStr":
            cells.append("".join(t.text or "" for t in cell.iter(f"{_MAIN}t")))
        elif kind == "s":
            cells.append(shared[int(cell.findtext(f"{_MAIN}v") or "0")])
        elif kind == "str":
            cells.append(cell.findtext(f"{_MAIN}v") or "")
        else:
            cells.append(int(cell.findtext(f"{_MAIN}v") or "0"))
    return cells


def _column(reference: str) -> int:
    letters = re.match(r"[A-Z]+", reference)
    value = 0
    for letter in letters.group() if letters else "A":
        value = value * 26 + ord(letter) - 64
    return value - 1


# Instants an export must spell exactly: whole seconds (isoformat drops ".000000"), either
# side of a Shanghai midnight, and 1988, when Shanghai kept summer time (+09:00): a bill
# day is the zone's, never a fixed offset.
_GOLDEN_INSTANTS = (
    datetime(2026, 11, 3, 15, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 11, 3, 16, 0, tzinfo=UTC),
    datetime(2026, 11, 3, 16, 0, tzinfo=UTC),  # the same instant: ordered by id
    datetime(2026, 12, 31, 16, 0, 0, 1, tzinfo=UTC),
    datetime(1988, 6, 15, 15, 30, tzinfo=UTC),
    datetime(1988, 6, 15, 14, 30, 12, 500_000, tzinfo=UTC),
    datetime(2000, 2, 29, 23, 59, 59, tzinfo=UTC),
)
_GOLDEN_PARTIES: tuple[Any, ...] = (
    {"name": "张*"},
    {},
    {"name": ""},
    {"name": 5},
    {"name": None},
    {"name": '=cmd|" /C calc"!A0'},
    {"name": 'a, "b"\r\nc', "card": "6228****0018"},
    [],
    "x",
)
_GOLDEN_TEXTS: tuple[str | None, ...] = (
    "",
    "房租 12月",
    '=HYPERLINK("http://x")',
    "+1",
    "-2",
    "@SUM(A1)",
    "\ttab",
    "\rcr",
    'comma, "quote"\nnewline',
    "plain =",
    None,
)


def golden_orders(merchant_id: str) -> list[dict[str, Any]]:
    """Orders with fixed ids and every value an export spells differently: the fixture
    of the byte-exact export test (its expectation was written by the earlier writer)."""
    rows: list[dict[str, Any]] = []
    count = len(_GOLDEN_INSTANTS) * 4
    for n in range(count):
        (row,) = order_rows(merchant_id, 1, start=_GOLDEN_INSTANTS[n % len(_GOLDEN_INSTANTS)])
        text = _GOLDEN_TEXTS[n % len(_GOLDEN_TEXTS)]
        row.update(
            id=f"pay_golden_{n:03d}",
            kind=("payin", "refund", "payout")[n % 3],
            parent_id="pay_golden_000" if n % 3 == 1 else None,
            status=("succeeded", "failed", "processing")[n % 3],
            amount=(0, 1, 10**15 + 7, 2**62)[n % 4] + n,
            fee_amount=n % 5,
            refunded_amount=n % 2,
            currency=("CNY", "USD")[n % 2],
            product=("rent", "deposit")[n % 2],
            merchant_reference=None if n % 2 else _GOLDEN_TEXTS[(n + 3) % len(_GOLDEN_TEXTS)],
            description=text if text is not None else "",
            party_masked=_GOLDEN_PARTIES[n % len(_GOLDEN_PARTIES)],
            finished_at=None if n % 3 == 2 else row["created_at"] + timedelta(seconds=n * 7.5),
        )
        rows.append(row)
    return rows
