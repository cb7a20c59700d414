"""A report's rows as CSV, XLSX or an aligned text table.

As the bills' exports: money and counts stay integers (one column, never a float), a CSV
starts with a BOM so Excel reads it as UTF-8 (the Chinese titles), and text that a
spreadsheet would run as a formula is quote-prefixed (bills/exports.py `cell_text`).
An XLSX holds the rows on one sheet and what the report answers, column by column, on a
second, in both languages.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import xlsxwriter  # type: ignore[import-untyped]

from paycore.bills.exports import CSV_BOM, XLSX_EXACT_INTEGER_MAX, XLSX_OPTIONS, cell_text
from paycore.warehouse.reports import Report

FORMATS = ("table", "csv", "xlsx", "svg")


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return cell_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def csv_text(report: Report, table: pa.Table) -> str:
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow([_cell(v) for v in row.values()])
    return buffer.getvalue()


def write_xlsx(report: Report, table: pa.Table, path: Path) -> None:
    workbook = xlsxwriter.Workbook(str(path), dict(XLSX_OPTIONS))
    try:
        bold = workbook.add_format({"bold": True})
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        sheet = workbook.add_worksheet(report.name[:31])
        for col, name in enumerate(table.column_names):
            sheet.write_string(0, col, name, bold)
        for at, row in enumerate(table.to_pylist(), start=1):
            for col, value in enumerate(row.values()):
                _write(sheet, at, col, value, day)
        about = workbook.add_worksheet("about")
        lines = [
            (report.title_zh, report.title_en),
            (report.answers, ""),
            *((c.name, f"{c.type}: {c.doc}") for c in report.columns),
        ]
        for at, (left, right) in enumerate(lines):
            about.write_string(at, 0, left, bold if at == 0 else None)
            about.write_string(at, 1, right, bold if at == 0 else None)
    finally:
        workbook.close()


def _write(sheet: Any, at: int, col: int, value: Any, day: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | date):
        # A string cell: Excel never reads it as a formula.
        sheet.write_string(at, col, str(value))
    elif isinstance(value, date):
        sheet.write_datetime(at, col, value, day)
    elif abs(value) <= XLSX_EXACT_INTEGER_MAX:
        sheet.write_number(at, col, value)
    else:  # Excel keeps 15 digits: a larger integer is text, not rounded
        sheet.write_string(at, col, str(value))


def table_text(report: Report, table: pa.Table) -> str:
    """Columns aligned for a terminal: numbers to the right, text to the left."""
    names = table.column_names
    rows = [["" if v is None else str(_plain(v)) for v in r.values()] for r in table.to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    numeric = [pa.types.is_integer(t) for t in table.schema.types]
    lines = [f"{report.title_zh} / {report.title_en}"]
    for cells in [names, *rows]:
        parts = [
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(cells, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    lines.append(f"({len(rows)} rows)")
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
