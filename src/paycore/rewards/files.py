"""Batch files in and out: CSV or JSON rows as the merchant sent them, and the result file.

A file is told from another by a digest: SHA-256 of the CSV bytes, or of the canonical
JSON of the rows (so spacing and key order do not make a different batch).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from paycore.errors import Rejected
from paycore.rewards.model import BATCH_FILE_BYTES_MAX, RawRow, RowOutcome
from paycore.text import check_text

CSV_COLUMNS = frozenset({"row", "recipient", "amount", "currency", "note"})


@dataclass(frozen=True, slots=True)
class BatchFile:
    """A batch's rows, read lazily, and the digest that tells one file from another."""

    digest: str
    read: Callable[[], Iterable[RawRow]]


def csv_file(content: bytes) -> BatchFile:
    _check_size(len(content))
    return BatchFile(digest=file_digest(content), read=lambda: read_csv(content))


def json_file(rows: object) -> BatchFile:
    if not isinstance(rows, list):
        raise Rejected("invalid_file", "a JSON batch is a list of objects")
    return BatchFile(digest=json_rows_digest(rows), read=lambda: read_json(rows))


def _check_size(size: int) -> None:
    if size > BATCH_FILE_BYTES_MAX:
        raise Rejected("batch_too_large", f"a batch file has at most {BATCH_FILE_BYTES_MAX} bytes")


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def json_rows_digest(rows: list[Any]) -> str:
    """The same rows hash the same whatever the spacing or key order of the JSON sent."""
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return file_digest(canonical.encode())


def read_csv(content: bytes) -> Iterator[RawRow]:
    """Rows of a CSV file with a header `recipient,amount[,currency][,note][,row]`, lazily."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Rejected("invalid_file", "the CSV file is not UTF-8") from exc
    reader = _guarded(csv.reader(io.StringIO(text, newline="")))
    header = [name.strip().lower() for name in next(reader, [])]
    unknown = set(header) - CSV_COLUMNS
    if not {"recipient", "amount"} <= set(header) or unknown or len(set(header)) != len(header):
        raise Rejected(
            "invalid_file", "the header is recipient,amount and optionally currency,note,row"
        )
    for position, cells in enumerate(reader, start=1):
        if not cells:
            continue  # a blank line, as spreadsheets leave at the end
        values: dict[str, str | None] = dict(zip(header, cells, strict=False))
        if len(cells) > len(header):
            values["amount"] = None  # a comma too many: most likely "1,000" split in two
        yield _raw(position, values)


def _guarded(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    """The csv module's own refusals (a field over its 128 KiB limit, ...) as `invalid_file`:
    the whole file is read before anything is stored, so nothing is half applied."""
    try:
        yield from reader
    except csv.Error as exc:
        raise Rejected("invalid_file", f"the CSV file cannot be read: {exc}") from exc


def read_json(rows: Any) -> Iterator[RawRow]:
    """Rows of a JSON list of objects with the same names as the CSV columns."""
    if not isinstance(rows, list):
        raise Rejected("invalid_file", "a JSON batch is a list of objects")
    for position, item in enumerate(rows, start=1):
        yield _raw(position, item if isinstance(item, dict) else {"recipient": None})


def _raw(position: int, values: Mapping[str, Any]) -> RawRow:
    # Rows are stored even when invalid, so their text must be storable: else no row is.
    check_text(dict(values), field=f"row {position}")
    return RawRow(
        position=position,
        row=values.get("row"),
        recipient=values.get("recipient"),
        amount=values.get("amount"),
        currency=values.get("currency"),
        note=values.get("note"),
    )


RESULT_COLUMNS = ("row", "recipient", "amount", "status", "reason", "transfer_id")
"""No `note`: it is the merchant's text about a recipient (C2), already in the merchant's
own input file, which `row` joins to this one; the result file is not one more copy."""


def result_line(row: RowOutcome) -> list[str]:
    return [
        "" if row.row is None else str(row.row),
        row.recipient,
        str(row.amount) if row.amount is not None else row.amount_text,
        row.status,
        row.reason or "",
        row.transfer_id or "",
    ]


def csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()
