"""What a camt entry is read from: its elements copied out of lxml into `Node`s.

Each lxml `find` costs about as much as copying a dozen elements, so an entry is copied
once, in one walk, keeping only the elements the rules read (`_READ`); they then look
children up in plain dicts. Values are read as XSD types are (the XSD pass held the file
to them already): a decimal, a date or a date-time as written, spaces around a token
dropped, a text kept as written (as xsdata kept it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation

from lxml import etree
from xsdata.models.datatype import XmlDate, XmlDateTime

from paycore.recon.model import MalformedStatement

_READ = frozenset(
    {
        "Amt", "CdtDbtInd", "RvslInd", "Sts", "Cd", "Prtry", "BookgDt", "ValDt", "Dt",
        "DtTm", "AcctSvcrRef", "BkTxCd", "Domn", "Fmly", "SubFmlyCd", "Chrgs", "Rcrd",
        "TtlChrgsAndTaxAmt", "AmtDtls", "InstdAmt", "TxAmt", "NtryDtls", "TxDtls", "Refs",
        "TxId", "EndToEndId", "RltdPties", "Dbtr", "Cdtr", "DbtrAcct", "CdtrAcct", "Pty",
        "Nm", "Id", "IBAN", "Othr", "RmtInf", "Strd", "CdtrRefInf", "Ref",
    }
)  # fmt: skip
"""The elements of an entry `camt_entries` reads; any other is not copied."""
_AMOUNTS = frozenset({"Amt", "TtlChrgsAndTaxAmt"})  # with a currency (`Ccy`)


class Node:
    """An element of an entry: its text, its currency (`Ccy`, on an amount) and the
    children `camt_entries` reads, by qualified name: `first` the first of each name (a
    plain dict lookup, `node.first.get(tags.Amt)`), `children` all of them in order."""

    __slots__ = ("ccy", "children", "first", "text")

    def __init__(
        self,
        text: str | None,
        ccy: str | None,
        first: dict[str, Node],
        children: dict[str, list[Node]],
    ) -> None:
        self.text = text
        self.ccy = ccy
        self.first = first
        self.children = children

    def findall(self, tag: str) -> list[Node]:
        return self.children.get(tag, [])

    iterfind = findall

    def __len__(self) -> int:
        return len(self.children)


_NO_CHILDREN: dict[str, list[Node]] = {}
_NO_FIRST: dict[str, Node] = {}  # shared by every leaf: never written to


def read(element: etree._Element, tags: Tags) -> Node:
    """Copy `element` and the descendants `camt_entries` reads into Nodes."""
    first: dict[str, Node] = {}
    children: dict[str, list[Node]] = {}
    wanted = tags.read
    amounts = tags.amounts
    for child in element:
        tag = child.tag  # a comment's or processing instruction's is not a str: skipped
        if tag not in wanted:
            continue
        if len(child):
            node = read(child, tags)
        else:  # most are leaves: no walk, and only an amount has a currency
            node = _new_node(Node)  # slots set directly: half the cost of __init__
            node.text = child.text
            node.ccy = child.get("Ccy") if tag in amounts else None
            node.first = _NO_FIRST
            node.children = _NO_CHILDREN
        if tag in first:
            children[tag].append(node)
        else:
            first[tag] = node
            children[tag] = [node]
    node = _new_node(Node)
    node.text = element.text
    node.ccy = element.get("Ccy") if element.tag in amounts else None
    node.first = first
    node.children = children
    return node


_new_node = Node.__new__


class Tags:
    """The qualified names of a message version's elements: `tags.Amt` is '{ns}Amt'."""

    def __init__(self, namespace: str) -> None:
        self._prefix = f"{{{namespace}}}"
        self.read = frozenset(self._prefix + name for name in _READ)
        self.amounts = frozenset(self._prefix + name for name in _AMOUNTS)

    def __getattr__(self, name: str) -> str:
        tag = self._prefix + name
        setattr(self, name, tag)  # found by plain lookup from now on
        return tag


@dataclass(frozen=True, slots=True)
class Money:
    value: Decimal  # as written (major units)
    ccy: str


def money(element: Node | None, sourceline: int, field: str) -> Money | None:
    """An amount element (`<Amt Ccy="EUR">12.50</Amt>`), or None if there is none."""
    if element is None:
        return None
    try:
        value = Decimal((element.text or "").strip())
    except InvalidOperation:
        raise MalformedStatement(
            f"{element.text!r} is not an amount", line=sourceline, field=field
        ) from None
    return Money(value, element.ccy or "")


def entry_amount(entry: Node, tags: Tags, sourceline: int, where: str) -> Money:
    """The entry's own amount (`Amt`), which every entry has."""
    field = f"{where}/Amt"
    found = money(entry.first.get(tags.Amt), sourceline, field)
    if found is None:
        raise MalformedStatement("the amount is missing", line=sourceline, field=field)
    return found


def is_credit(indicator: Node | None) -> bool:
    return indicator is not None and text(indicator) == "CRDT"


def business_date(
    booking: Node | None, value: Node | None, t: Tags, sourceline: int, where: str
) -> date | None:
    """The booking date as the bank writes it (a booking at 21:40+02:00 on the 28th is
    the 28th); without a booking date, the value date; else None (the day of the line's
    time in the business timezone)."""
    if booking is not None:
        return written_date(booking, t, sourceline, f"{where}/BookgDt")
    return written_date(value, t, sourceline, f"{where}/ValDt")


def written_date(choice: Node | None, t: Tags, sourceline: int, field: str) -> date | None:
    """The calendar date of a DateAndDateTime choice as written, whatever its offset."""
    if choice is None:
        return None
    day = choice.first.get(t.Dt)
    if day is not None:
        return date_of(day, sourceline, field)
    return date_time(required(choice.first.get(t.DtTm), sourceline, field), sourceline, field)[0]


def instant(choice: Node, t: Tags, sourceline: int, field: str) -> datetime:
    """A DateAndDateTime choice as a UTC instant: no offset means UTC; a date alone means
    12:00 UTC, which keeps its calendar date in every zone from UTC-11 to UTC+11."""
    moment = choice.first.get(t.DtTm)
    if moment is not None:
        return date_time(moment, sourceline, field)[1]
    day = date_of(required(choice.first.get(t.Dt), sourceline, field), sourceline, field)
    return datetime.combine(day, time(12), tzinfo=UTC)


def date_time(element: Node, sourceline: int, field: str) -> tuple[date, datetime]:
    """An xs:dateTime: its calendar date as written, and the instant in UTC."""
    written = (text(element) or "").strip()  # xs:dateTime collapses spaces
    try:
        return _read_date_time(written)
    except ValueError:
        raise MalformedStatement(
            f"{written!r} is not a date and time", line=sourceline, field=field
        ) from None


@functools.lru_cache(maxsize=4096)  # a file repeats its times and, above all, its days
def _read_date_time(text: str) -> tuple[date, datetime]:
    """The standard library reads the common forms; xsdata the rest (24:00:00...)."""
    try:
        moment = datetime.fromisoformat(text)
        return moment.date(), utc(moment)
    except ValueError:
        written = XmlDateTime.from_string(text)  # a ValueError if it is none
        return date(written.year, written.month, written.day), utc(written.to_datetime())


def date_of(element: Node, sourceline: int, field: str) -> date:
    written = (text(element) or "").strip()
    try:
        return _read_date(written)
    except ValueError:
        raise MalformedStatement(
            f"{written!r} is not a date", line=sourceline, field=field
        ) from None


@functools.lru_cache(maxsize=4096)
def _read_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return XmlDate.from_string(text).to_date()  # with an offset: '2024-05-01+02:00'


def utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)


def required(element: Node | None, sourceline: int, field: str) -> Node:
    if element is None:
        raise MalformedStatement("a date is missing", line=sourceline, field=field)
    return element


def path(element: Node, *tags: str) -> Node | None:
    found: Node | None = element
    for tag in tags:
        found = found.first.get(tag) if found is not None else None
    return found


def text(element: Node | None) -> str | None:
    """An element's text as written (spaces kept, as xsdata kept them)."""
    return element.text if element is not None else None


def is_true(element: Node | None) -> bool:
    return (text(element) or "").strip() in ("true", "1")  # xs:boolean collapses spaces
