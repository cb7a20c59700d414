"""Reading CSV-like bills by header name: shared by the sandbox, Alipay and WeChat parsers.

Channels reorder, add and rename columns between layouts, so a parser never trusts a
position: it names the fields it needs (with the header names each layout uses for them),
and `Columns` finds them in the header row. Bytes are decoded one physical line at a time
so that a file in the wrong encoding is refused with the line that does not decode, and
no parser ever holds more than one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from paycore.recon.model import MalformedStatement, parse_amount

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""Alipay, WeChat Pay and the sandbox bank write local times of the Asia/Shanghai zone."""

_PADDING = " \t\r\n`"
"""Alipay pads cells with a tab and WeChat prefixes each with a backtick, both so that a
spreadsheet keeps long numbers as text: neither is part of the value."""


def cell_text(text: str) -> str:
    return text.strip(_PADDING)


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
        names = [cell_text(name) for name in header]
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

    def check_width(self, row: Sequence[str], *, line: int) -> None:
        """A row must have as many cells as its header: a shifted or cut row does not."""
        if len(row) != self.width:
            raise MalformedStatement(
                f"the row has {len(row)} fields, the header has {self.width}", line=line
            )


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


def local_time(text: str, *, zone: ZoneInfo, line: int, field: str) -> datetime:
    """'2026-11-25 10:00:01' in the source's zone, as a UTC instant."""
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedStatement(
            f"{text!r} is not a date and time", line=line, field=field
        ) from None
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    return local.replace(tzinfo=zone).astimezone(UTC)


def local_date(text: str, *, line: int, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MalformedStatement(f"{text!r} is not a date", line=line, field=field) from None
