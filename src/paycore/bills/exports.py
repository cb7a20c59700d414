"""Bill exports as CSV and XLSX, written row by row: memory holds one page of rows
whatever the month holds (a million lines cost what a thousand do).

Kept exports name payers: `write_sealed_file` encrypts as it writes (security/files.py);
an XLSX, a zip that XlsxWriter must finish on a path, is written in a private temporary
folder first and sealed from there.

Money is an integer of minor units in one column and its currency in the next, never a
float, so a sum in a spreadsheet is exact. Text a person typed (a description, a
reference) is written so that a spreadsheet never runs it as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import xlsxwriter  # type: ignore[import-untyped]

from paycore.bills.queries import Row
from paycore.security import files

PROGRESS_EVERY_ROWS = 1000
"""How often a writer reports how far it got (the CLI's bar, a job's progress)."""
CSV_CHUNK_ROWS = 500
"""Rows per chunk of a streamed CSV response: one write to the socket per chunk."""
XLSX_SHEET_ROWS_MAX = 1_048_576
"""Excel's row limit per sheet; a longer export goes on in a next sheet."""
XLSX_EXACT_INTEGER_MAX = 10**15 - 1
"""Excel keeps 15 significant digits: a larger integer is written as text, not rounded."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_BOM = "\ufeff"
"""Excel opens a CSV as UTF-8 (Chinese names, 店东) only when it starts with a BOM."""


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

Progress = Callable[[int], None]


XLSX_OPTIONS = {
    "constant_memory": True,  # each row goes to disk as written: flat memory
    "strings_to_numbers": False,  # text stays text, typed numbers stay exact
    "strings_to_formulas": False,  # nothing a person typed runs as a formula
    "strings_to_urls": False,
}


def cell_text(value: str) -> str:
    """Text a spreadsheet shows as typed: a leading = + - @ (or tab, CR) would make it a
    formula, so it gets the quote prefix Excel and LibreOffice hide on display."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _getter(columns: Sequence[str]) -> Callable[[Row], tuple[str | int | None, ...]]:
    """A row's values in `columns`' order, read in C (itemgetter), always as a tuple."""
    if len(columns) == 1:
        (name,) = columns
        return lambda row: (row[name],)
    return itemgetter(*columns)


def _guarded(values: tuple[str | int | None, ...]) -> list[str | int | None]:
    """The values of a CSV row with text a spreadsheet would run as a formula quoted
    (None is an empty cell: csv.writer writes it so)."""
    return [cell_text(v) if type(v) is str else v for v in values]


_FIRST_CELL_RISKY = re.compile(r'"[=+\-@\t\r]|[=+\-@\t]')
_NEXT_CELL_RISKY = re.compile(r'[,\n](?:"[=+\-@\t\r]|[=+\-@\t])')
"""Where a written chunk may hold a cell that starts as a formula: at its start, or after
a comma or a line's end. A cell holding CR is always quoted, so an unquoted CR is a line's
end, not a cell. A match may be no formula (a negative number, ",=" inside a quoted
text): the chunk is then written again, each text cell looked at."""
_FORMULA_MARKS = ("=", "+", "@", "\t", '"', ",-", "\n-")
"""Without any of these, a written chunk holds no cell that starts as a formula (a cell
that starts with CR is quoted). Finding them costs a quarter of the regexes (measured:
0.4 against 1.6 µs a row): they run only on a chunk that holds one."""


def _may_hold_formula(text: str, start: int) -> bool:
    """Whether the chunk written from `start` on may hold a cell that starts as a formula.
    The chunk's first cell is looked at before the marks: a lone "-" there follows no
    comma or line end, so no mark would find it."""
    if _FIRST_CELL_RISKY.match(text, start):
        return True
    if all(text.find(mark, start) < 0 for mark in _FORMULA_MARKS):
        return False
    return bool(_NEXT_CELL_RISKY.search(text, start))


def csv_chunks(
    rows: Iterable[Row], columns: Sequence[str], *, progress: Progress | None = None
) -> Iterator[bytes]:
    """The CSV, as UTF-8 chunks of CSV_CHUNK_ROWS rows, for a streamed response."""
    return _chunks(rows, columns, progress, [0])


def _chunks(
    rows: Iterable[Row], columns: Sequence[str], progress: Progress | None, done: list[int]
) -> Iterator[bytes]:
    """csv_chunks, counting the rows written in done[0]."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(CSV_BOM)
    writer.writerow(columns)
    cells = _getter(columns)
    # A chunk at a time, with no Python per cell: writerows runs its loop in C over
    # values read by itemgetter, and a look over the written text finds whether a cell
    # may start as a formula (rarely: only then are the cells looked at one by one).
    them = iter(rows)
    for chunk in iter(lambda: list(islice(them, CSV_CHUNK_ROWS)), []):
        start = buffer.tell()
        writer.writerows(map(cells, chunk))
        if _may_hold_formula(buffer.getvalue(), start):
            buffer.seek(start)
            buffer.truncate()
            writer.writerows(map(_guarded, map(cells, chunk)))
        done[0] += len(chunk)
        if len(chunk) == CSV_CHUNK_ROWS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if progress is not None and done[0] % PROGRESS_EVERY_ROWS == 0:
            progress(done[0])
    yield buffer.getvalue().encode()
    if progress is not None:
        progress(done[0])


def write_csv(
    rows: Iterable[Row],
    columns: Sequence[str],
    out: IO[bytes] | files.SealedWriter,
    *,
    progress: Progress | None = None,
) -> int:
    """Write the CSV to a binary file; returns the rows written."""
    done = [0]
    for chunk in _chunks(rows, columns, progress, done):
        out.write(chunk)
    return done[0]


def write_xlsx(
    rows: Iterable[Row],
    columns: Sequence[str],
    path: Path,
    *,
    sheet: str = "export",
    progress: Progress | None = None,
) -> int:
    """Write an XLSX workbook at `path` in XlsxWriter's constant-memory mode (each row goes
    to disk as it is written; strings inline, no shared table). Returns the rows written."""
    workbook = xlsxwriter.Workbook(str(path), dict(XLSX_OPTIONS))
    try:
        header = workbook.add_format({"bold": True})
        done, sheet_row, sheets = 0, 0, 0
        worksheet = None
        for row in rows:
            if worksheet is None or sheet_row == XLSX_SHEET_ROWS_MAX:
                sheets += 1
                worksheet = workbook.add_worksheet(sheet if sheets == 1 else f"{sheet} {sheets}")
                worksheet.freeze_panes(1, 0)
                worksheet.write_row(0, 0, list(columns), header)
                sheet_row = 1
            _write_xlsx_row(worksheet, sheet_row, row, columns)
            sheet_row += 1
            done += 1
            if progress is not None and done % PROGRESS_EVERY_ROWS == 0:
                progress(done)
        if worksheet is None:  # no rows: still a sheet with the header
            worksheet = workbook.add_worksheet(sheet)
            worksheet.write_row(0, 0, list(columns), header)
    finally:
        workbook.close()
    if progress is not None:
        progress(done)
    return done


def _write_xlsx_row(worksheet: Any, at: int, row: Row, columns: Sequence[str]) -> None:
    write_number, write_string = worksheet.write_number, worksheet.write_string
    for col, name in enumerate(columns):
        value = row[name]
        if value is None:
            continue
        if isinstance(value, int) and abs(value) <= XLSX_EXACT_INTEGER_MAX:
            write_number(at, col, value)
        else:
            # Written as a string cell, text is never read as a formula by Excel.
            write_string(at, col, str(value))


def write_file(
    rows: Iterable[Row],
    columns: Sequence[str],
    path: Path,
    fmt: Format,
    *,
    sheet: str = "export",
    progress: Progress | None = None,
) -> int:
    """Write the export at `path` in `fmt`; returns the rows written."""
    if fmt is Format.XLSX:
        return write_xlsx(rows, columns, path, sheet=sheet, progress=progress)
    with path.open("wb") as out:
        return write_csv(rows, columns, out, progress=progress)


EXPORT_FILE_KIND = "bills_export"
"""The file kind a kept export's data key is sealed under (security/files.py)."""


def write_sealed_file(
    rows: Iterable[Row],
    columns: Sequence[str],
    path: Path,
    fmt: Format,
    cipher: files.FieldSealer,
    *,
    sheet: str = "export",
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Write the export at `path` in `fmt`, encrypted; (rows written, clear bytes)."""
    if fmt is Format.XLSX:
        with files.clear_scratch(f"{path.stem}.xlsx") as scratch:
            done = write_xlsx(rows, columns, scratch, sheet=sheet, progress=progress)
            return done, files.seal_file(scratch, path, cipher, kind=EXPORT_FILE_KIND)
    with path.open("wb") as raw, files.SealedWriter(raw, cipher, kind=EXPORT_FILE_KIND) as out:
        done = write_csv(rows, columns, out, progress=progress)
    return done, out.clear_bytes
