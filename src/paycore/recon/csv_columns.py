"""Reading CSV-like bills by header name: shared by the sandbox, Alipay and WeChat parsers.

Channels reorder, add and rename columns between layouts, so a parser never trusts a
position: it names the fields it needs (with the header names each layout uses for them),
and `Columns` finds them in the header row. Bytes are decoded one physical line at a time
so that a file in the wrong encoding is refused with the line that does not decode, and
no parser ever holds more than one line (of at most `LINE_BYTES_MAX` bytes).

Whatever an outsider sends, reading it raises only `MalformedStatement` naming the line
and the field: a CSV fault, a NUL (PostgreSQL cannot store one), a row of the wrong
width, a count or a time out of range.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import IO
from zoneinfo import ZoneInfo

from paycore.recon.model import MalformedStatement, parse_amount, shown

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""Alipay, WeChat Pay and the sandbox bank write local times of the Asia/Shanghai zone."""

_PADDING = " \t\r\n`"
"""Alipay pads cells with a tab and WeChat prefixes each with a backtick, both so that a
spreadsheet keeps long numbers as text: neither is part of the value."""


LINE_BYTES_MAX = 64 * 1024
"""A bill's line is a few hundred bytes; a longer one is garbage (or a file without line
breaks), refused before it fills memory."""
COUNT_DIGITS_MAX = 12


def cell_text(text: str) -> str:
    return text.strip(_PADDING)


def _refuse_nul(cells: Sequence[str], *, line: int, names: Sequence[str]) -> None:
    if "\x00" not in "".join(cells):  # one scan in C for the millions of clean rows
        return
    for index, cell in enumerate(cells):
        if "\x00" in cell:
            name = column_name(names, index)
            raise MalformedStatement("a NUL character: no text may hold one", line=line, field=name)


def column_name(names: Sequence[str], index: int) -> str:
    """How an error names a column: its header name, or its number where the header has
    none there (an unnamed or missing header cell)."""
    name = names[index] if index < len(names) else ""
    return name or f"column {index + 1}"


class Columns:
    """Where each wanted field is in a header row.

    `wanted` maps a field to the header names it has had across layouts (the first is
    the one errors quote); fields in `optional` may be absent from a layout."""

    def __init__(
        self,
        header: Sequence[str],
        wanted: Mapping[str, tuple[str, ...]],
        *,
        line: int,
        optional: frozenset[str] = frozenset(),
    ) -> None:
        _refuse_nul(header, line=line, names=["header"] * len(header))
        names = [cell_text(name) for name in header]
        self.names = names
        self.width = len(names)
        self._index: dict[str, int] = {}
        self._names: dict[str, str] = {}
        for field_name, candidates in wanted.items():
            found = next((name for name in candidates if name in names), None)
            if found is not None:
                self._index[field_name] = names.index(found)
                self._names[field_name] = found
            elif field_name not in optional:
                raise MalformedStatement(
                    f"the header has no column {candidates[0]!r}", line=line, field=candidates[0]
                )

    def has(self, field_name: str) -> bool:
        return field_name in self._index

    def name(self, field_name: str) -> str:
        """The header name this file uses for a field (errors quote it)."""
        return self._names.get(field_name, field_name)

    def get(self, row: Sequence[str], field_name: str) -> str:
        """The cleaned text of a field, '' when the layout lacks an optional field."""
        index = self._index.get(field_name)
        return "" if index is None else cell_text(row[index])

    def check_row(self, row: Sequence[str], *, line: int) -> None:
        """A row must have as many cells as its header (a shifted or cut row does not),
        and no NUL in any of them; the error names the first missing or extra field."""
        if len(row) != self.width:
            missing = len(row) < self.width
            raise MalformedStatement(
                f"the row has {len(row)} fields, the header has {self.width}",
                line=line,
                field=column_name(self.names, len(row) if missing else self.width),
            )
        _refuse_nul(row, line=line, names=self.names)


class Rows:
    """`csv.reader` over decoded lines, whose faults (a stray carriage return, a quoted
    field over the csv module's limit) are `MalformedStatement`s naming the line.
    `line_num` is the line where the last row began: a quoted field may span lines."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._reader = csv.reader(lines)
        self.line_num = 0

    def __iter__(self) -> Iterator[list[str]]:
        return self

    def __next__(self) -> list[str]:
        start = self._reader.line_num + 1
        try:
            row = next(self._reader)
        except csv.Error as error:
            raise MalformedStatement(
                f"not CSV: {error}", line=max(start, self._reader.line_num), field="csv"
            ) from None
        self.line_num = start
        return row


def physical_lines(raw: IO[bytes]) -> Iterator[bytes]:
    """The file's lines as bytes, none longer than `LINE_BYTES_MAX`."""
    line_no = 0
    while line := raw.readline(LINE_BYTES_MAX + 1):
        line_no += 1
        if len(line) > LINE_BYTES_MAX:
            raise MalformedStatement(
                f"longer than {LINE_BYTES_MAX} bytes", line=line_no, field="line length"
            )
        yield line


def decoded_lines(raw_lines: Iterable[bytes], encoding: str) -> Iterator[str]:
    """Each physical line decoded on its own, so a bad byte is reported on its line."""
    for line_no, raw in enumerate(raw_lines, start=1):
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError:
            raise MalformedStatement(
                f"the bytes are not {encoding} text", line=line_no, field="encoding"
            ) from None


def amount(text: str, currency: str, *, line: int, field: str) -> int:
    """A required decimal amount (signed) in minor units."""
    if not text:
        raise MalformedStatement("the amount is empty", line=line, field=field)
    return parse_amount(text, currency, line=line, field=field)


def count(text: str, *, line: int, field: str) -> int:
    """A count of rows: ASCII digits only (int() takes '²' and full-width digits too)."""
    if not (text.isascii() and text.isdigit() and len(text) <= COUNT_DIGITS_MAX):
        raise MalformedStatement(f"{shown(text)} is not a count", line=line, field=field)
    return int(text)


def local_time(text: str, *, zone: ZoneInfo, line: int, field: str) -> datetime:
    """'2026-11-25 10:00:01' in the source's zone, as a UTC instant."""
    try:
        local = datetime.fromisoformat(text)
        if local.tzinfo is not None:
            return local.astimezone(UTC)
        return local.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01 00:00 Shanghai in UTC
        raise MalformedStatement(
            f"{shown(text)} is not a date and time", line=line, field=field
        ) from None


def local_date(text: str, *, line: int, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MalformedStatement(f"{shown(text)} is not a date", line=line, field=field) from None
