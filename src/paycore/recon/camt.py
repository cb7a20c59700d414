"""ISO 20022 camt.053 (end-of-day statement) and camt.054 (debit/credit notification).

A file is validated against the XSD of its message first (streaming, `xsd.validate`),
then its entries are streamed with lxml's iterparse and each `Ntry` is bound by xsdata into
the pyiso20022 dataclass of that message version, so no XML is walked by hand. Versions:
.02 and later, as far as pyiso20022 ships bindings (camt.053/054 .02 to .12).

One statement (or notification) per file: a second `Stmt`/`Ntfctn` is refused, because a
`Statement` has one account, period and balances. Banks that bundle several accounts in
one message send them split on request; a file with several is rare enough to refuse
clearly rather than half-support.

Times: a `DtTm` without an offset is taken as UTC; a booking with a date only (`Dt`) is
put at 12:00 UTC, which keeps its calendar date in every business timezone from UTC-11
to UTC+11. Pending entries often have no booking date: their value date, else the
statement's creation time, stands in.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.handlers import LxmlEventHandler

from paycore.money import to_major
from paycore.recon import xsd
from paycore.recon.camt_entries import entry_to_line
from paycore.recon.model import (
    ControlTotals,
    Direction,
    MalformedStatement,
    Statement,
    StatementInfo,
    StatementLine,
    parse_amount,
)


@dataclass(frozen=True, slots=True)
class _Layout:
    format: str  # StatementInfo.format
    message: str  # the message's element under Document
    statement: str  # its repeating account report


_LAYOUTS = {
    "camt.053": _Layout("camt053", "BkToCstmrStmt", "Stmt"),
    "camt.054": _Layout("camt054", "BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}
_OLDEST_VERSION = "001.02"


@dataclass(frozen=True, slots=True)
class _Binding:
    layout: _Layout
    namespace: str
    statement_class: type[Any]  # e.g. AccountStatement2
    entry_class: type[Any]  # e.g. ReportEntry2


def _element_class(owner: type[Any], element: str) -> type[Any]:
    """The dataclass that xsdata binds the child `element` of `owner` to."""
    hints = typing.get_type_hints(owner)
    for field in dataclasses.fields(owner):
        if field.metadata.get("name") == element:
            pending = [hints[field.name]]
            while pending:
                candidate = pending.pop()
                if dataclasses.is_dataclass(candidate) and isinstance(candidate, type):
                    return candidate
                pending.extend(typing.get_args(candidate))
    raise LookupError(f"{owner.__name__} has no element {element}")  # pragma: no cover


@functools.cache
def _binding(namespace: str) -> _Binding:
    message = xsd.message_of(namespace)  # camt.053.001.02
    layout = _LAYOUTS.get(message[:8])
    if layout is None or message[9:] < _OLDEST_VERSION:
        raise MalformedStatement(f"unsupported message {message!r}: expected camt.053 or camt.054")
    module_name = message.replace(".", "_")
    try:
        module = importlib.import_module(f"pyiso20022.camt.{module_name}")
    except ModuleNotFoundError:
        raise MalformedStatement(f"unsupported message {message!r}: no binding for it") from None
    document = module.Document
    message_class = _element_class(document, layout.message)
    statement_class = _element_class(message_class, layout.statement)
    entry_class = _element_class(statement_class, "Ntry")
    return _Binding(layout, namespace, statement_class, entry_class)


def parse(path: Path, *, source: str | None = None) -> Statement:
    """Validate `path` against its XSD, read its header, and stream its entries."""
    binding = _binding(xsd.root_namespace(path))  # refuse other messages before reading
    xsd.validate(path)
    reader = _Reader(path, binding)
    info = reader.read_header(source)
    statement = Statement(info, iter(()))
    statement.lines = reader.lines(statement)
    return statement


class _Reader:
    """Reads the file twice, each time in a `with`: once for the header (it stops at the
    first entry), once, lazily, for the entries; so nothing stays open if the lines are
    never read or abandoned half way."""

    def __init__(self, path: Path, binding: _Binding) -> None:
        self.path = path
        self.binding = binding
        ns = f"{{{binding.namespace}}}"
        self.entry_tag = ns + "Ntry"
        self.statement_tag = ns + binding.layout.statement
        self.parser = XmlParser(handler=LxmlEventHandler)
        self.header: Any = None

    def _events(self, source: BinaryIO) -> Iterator[tuple[str, etree._Element]]:
        return iter(
            etree.iterparse(
                source,
                events=("start", "end"),
                tag=(self.entry_tag, self.statement_tag),
                resolve_entities=False,
                no_network=True,
            )
        )

    def read_header(self, source: str | None) -> StatementInfo:
        """Stop at the first entry (or the statement's end): everything before it in the
        XSD's sequence (Id, Acct, Bal, TxsSummry) is then complete."""
        with self.path.open("rb") as file:
            for event, element in self._events(file):
                if element.tag == self.entry_tag and event == "start":
                    self._bind_header(element.getparent(), before=element)
                    break
                if element.tag == self.statement_tag and event == "end":
                    self._bind_header(element, before=None)
                    break
        if self.header is None:
            raise MalformedStatement(f"no {self.binding.layout.statement} in the file")
        return _info(self.header, self.binding.layout, source)

    def _bind_header(self, statement: etree._Element, *, before: etree._Element | None) -> None:
        copy = etree.Element(statement.tag, nsmap=statement.nsmap)
        for child in statement:
            if child is before:
                break
            copy.append(_deep_copy(child))
        self.header = self.parser.parse(copy, self.binding.statement_class)

    def lines(self, statement: Statement) -> Iterator[StatementLine]:
        counted = _Counted()
        position = 0
        statements = 0
        with self.path.open("rb") as file:
            for event, element in self._events(file):
                if element.tag == self.statement_tag:
                    statements += event == "start"
                    if statements > 1:
                        raise MalformedStatement(
                            f"more than one {self.binding.layout.statement} in the file",
                            line=element.sourceline,
                        )
                    continue
                if event != "end":
                    continue
                position += 1
                entry = self.parser.parse(element, self.binding.entry_class)
                line = entry_to_line(entry, position, element.sourceline or 0, self.header)
                counted.add(line)
                _release(element)
                yield line
        statement.totals = _check_totals(self.header, counted, statement.info)


def _deep_copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def _release(element: etree._Element) -> None:
    """Free a bound entry and the siblings before it, so memory stays flat."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]


@dataclass(slots=True)
class _Counted:
    count: int = 0
    credit_count: int = 0
    debit_count: int = 0
    credits: Decimal = Decimal(0)  # major units: TxsSummry sums carry no currency
    debits: Decimal = Decimal(0)
    currencies: set[str] = dataclasses.field(default_factory=set)

    def add(self, line: StatementLine) -> None:
        major = to_major(line.amount, line.currency)
        self.count += 1
        self.currencies.add(line.currency)
        if line.direction is Direction.CREDIT:
            self.credit_count += 1
            self.credits += major
        else:
            self.debit_count += 1
            self.debits += major


def _info(header: Any, layout: _Layout, source: str | None) -> StatementInfo:
    account_id = header.acct.id
    account = account_id.iban or (account_id.othr.id if account_id.othr else None)
    balances = {
        _code(balance.tp.cd_or_prtry.cd): balance
        for balance in getattr(header, "bal", [])
        if _code(balance.tp.cd_or_prtry.cd) in ("OPBD", "CLBD")
    }
    currency = header.acct.ccy or next((b.amt.ccy for b in balances.values()), None)
    period = header.fr_to_dt
    return StatementInfo(
        format=layout.format,
        source=source or account or header.id,
        statement_id=header.id,
        period_start=_date_of(period.fr_dt_tm) if period else None,
        period_end=_date_of(period.to_dt_tm) if period else None,
        currency=currency,
        opening_balance=_signed_balance(balances.get("OPBD")),
        closing_balance=_signed_balance(balances.get("CLBD")),
    )


def _code(value: Any) -> str:
    """A code bound as an enum (older versions) or as text (external code lists)."""
    return str(getattr(value, "value", value))


def _date_of(value: Any) -> date:
    """The date as the bank wrote it (its own business day), whatever the offset."""
    return date(value.year, value.month, value.day)


def _signed_balance(balance: Any) -> int | None:
    if balance is None:
        return None
    amount = parse_amount(format(balance.amt.value, "f"), balance.amt.ccy, field="Bal/Amt")
    return -amount if balance.cdt_dbt_ind.value == "DBIT" else amount


def _check_totals(header: Any, counted: _Counted, info: StatementInfo) -> ControlTotals:
    """Compare what TxsSummry says with the entries read; return what the file says."""
    summary = getattr(header, "txs_summry", None)
    if summary is None:
        return ControlTotals()
    checks = (
        ("TtlNtries", summary.ttl_ntries, counted.count, counted.credits + counted.debits),
        ("TtlCdtNtries", summary.ttl_cdt_ntries, counted.credit_count, counted.credits),
        ("TtlDbtNtries", summary.ttl_dbt_ntries, counted.debit_count, counted.debits),
    )
    for name, stated, count, total in checks:
        if stated is None:
            continue
        if stated.nb_of_ntries is not None and int(stated.nb_of_ntries) != count:
            raise MalformedStatement(
                f"TxsSummry says {stated.nb_of_ntries} entries, the file has {count}",
                field=f"TxsSummry/{name}/NbOfNtries",
            )
        if stated.sum is not None and Decimal(stated.sum) != total:
            raise MalformedStatement(
                f"TxsSummry says a sum of {stated.sum}, the entries add up to {total}",
                field=f"TxsSummry/{name}/Sum",
            )
    currency = info.currency or (min(counted.currencies) if counted.currencies else None)
    return ControlTotals(
        count=_stated_count(summary.ttl_ntries),
        credits=_stated_sum(summary.ttl_cdt_ntries, currency),
        debits=_stated_sum(summary.ttl_dbt_ntries, currency),
    )


def _stated_count(stated: Any) -> int | None:
    return None if stated is None or stated.nb_of_ntries is None else int(stated.nb_of_ntries)


def _stated_sum(stated: Any, currency: str | None) -> int | None:
    if stated is None or stated.sum is None or currency is None:
        return None
    return parse_amount(format(stated.sum, "f"), currency, field="TxsSummry/Sum")
