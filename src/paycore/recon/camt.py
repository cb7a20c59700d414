"""ISO 20022 camt.053 (end-of-day statement) and camt.054 (debit/credit notification).

A file's entries are streamed with lxml's iterparse, which holds every element to the
XSD of its message as it parses it (libxml2, in C; strict where money is, the rest kept as
warnings: `camt_schema.py`, `_Reader`); each `Ntry` is read from its elements
(`camt_entries.py`) and dropped.
Only a statement's header (once a statement: balances, TxsSummry) is bound by xsdata into
the pyiso20022 dataclass of that message version. Versions: .02 and later, as far as
pyiso20022 ships bindings (camt.053/054 .02 to .12).

Every statement (`Stmt`/`Ntfctn`) of every document in the file is read, each with its
own header: its entries must be in its account's currency (a foreign amount is refused;
the instructed amount is kept beside the line), its TxsSummry must agree with its
entries, and what its balances make of them (`StatementBalance`) is judged by the import.
A batch entry (several `TxDtls`, each with its amount) is split into one line each.

Times: a `DtTm` without an offset is taken as UTC; a booking with a date only (`Dt`) is
put at 12:00 UTC. A line's business day is its booking date as the bank writes it (else
its value date). Pending entries often have no booking date: their value date, else the
statement's creation time, stands in.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree
from xsdata.exceptions import ConverterError, ParserError
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.formats.dataclass.parsers.handlers import LxmlEventHandler

from paycore.recon import camt_entries, camt_nodes, camt_schema, camt_totals, xsd
from paycore.recon.model import (
    WARNINGS_KEPT_MAX,
    ControlTotals,
    MalformedStatement,
    Statement,
    StatementBalance,
    StatementInfo,
    StatementLine,
    Warnings,
)


@dataclass(frozen=True, slots=True)
class _Layout:
    format: str  # StatementInfo.format
    message: str  # the message's element under Document
    statement: str  # its repeating account report


_LAYOUTS = {
    "camt.052": _Layout("camt052", "BkToCstmrAcctRpt", "Rpt"),  # intraday account report
    "camt.053": _Layout("camt053", "BkToCstmrStmt", "Stmt"),
    "camt.054": _Layout("camt054", "BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}
_OLDEST_VERSION = "001.02"


@dataclass(frozen=True, slots=True)
class _Binding:
    layout: _Layout
    namespace: str
    statement_class: type[Any]  # e.g. AccountStatement2

    @property
    def entry_path(self) -> str:
        return f"/Document/{self.layout.message}/{self.layout.statement}/Ntry"


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
        raise MalformedStatement(f"unsupported message {message!r}: expected camt.052/053/054")
    module_name = message.replace(".", "_")
    try:
        module = importlib.import_module(f"pyiso20022.camt.{module_name}")
    except ModuleNotFoundError:
        raise MalformedStatement(f"unsupported message {message!r}: no binding for it") from None
    document = module.Document
    message_class = _element_class(document, layout.message)
    statement_class = _element_class(message_class, layout.statement)
    return _Binding(layout, namespace, statement_class)


def parse(path: Path, *, source: str | None = None) -> Statement:
    """Read the first statement's header of `path`, and stream the entries of every
    statement of every document in it, held to the XSD (strict where money is) as they
    are parsed."""
    parts = camt_schema.segments(path)
    binding = _binding(camt_schema.namespace(path, parts))  # refuse other messages first
    reader = _Reader(path, parts, binding)
    try:
        info = reader.read_info(source)
    except Exception:
        reader.check_schema(Warnings())  # a file that breaks the XSD is refused for that
        raise
    statement = Statement(info, iter(()))
    statement.lines = reader.lines(statement)
    return statement


class _Reader:
    """Reads the file twice, each time in a `with`: once for the first statement's header
    (it stops at the first entry), once, lazily, for the entries of every statement; so
    nothing stays open if the lines are never read or abandoned half way.

    The entries' read is the XSD pass too: libxml2 validates each element as it parses it
    (in C), so a valid file is parsed once. Only a file that breaks the XSD pays for more:
    at the first error the whole file is judged as before (`camt_schema.validate`: refused
    where money is, else warnings, put before any the entries gave), then the read resumes
    where it stopped, without the schema. Any refusal of the reader is preceded by that
    judgement, so a file that breaks the XSD is refused for that, as it always was."""

    def __init__(self, path: Path, parts: list[camt_schema.Segment], binding: _Binding) -> None:
        self.path = path
        self.parts = parts
        self.binding = binding
        self.tags = camt_nodes.Tags(binding.namespace)
        self.entry_tag = self.tags.Ntry
        self.statement_tag = getattr(self.tags, binding.layout.statement)
        # Lenient binding: an element the XSD judgement let through as a warning (a `BIC`
        # where this version says `BICFI`) is skipped, and a missing one is None. Only
        # headers are bound (once a statement), so every file can afford it.
        config = ParserConfig(fail_on_unknown_properties=False, class_factory=_lenient_factory)
        self.parser = XmlParser(config=config, handler=LxmlEventHandler)
        self.schema_checked = False  # the whole file judged against the XSD

    def check_schema(self, warnings: Warnings) -> None:
        """Judge the whole file against its XSD (once): refuse what touches money, put
        the rest as warnings before any `warnings` has (as a pass of its own did)."""
        if self.schema_checked:
            return
        self.schema_checked = True
        found = Warnings()
        for segment in self.parts:
            camt_schema.validate(
                self.path,
                segment,
                namespace=self.binding.namespace,
                entry_path=self.binding.entry_path,
                warnings=found,
            )
        warnings.kept[:] = (found.kept + warnings.kept)[:WARNINGS_KEPT_MAX]
        warnings.count += found.count

    def _events(
        self, segment: camt_schema.Segment, warnings: Warnings | None = None
    ) -> Iterator[tuple[str, etree._Element]]:
        """start/end of statements and entries, validated as they are parsed when
        `warnings` takes what the XSD judgement finds; a file that stops being
        well-formed (cut short) is refused with its line, wherever the reading is."""
        delivered = 0
        while True:
            validating = warnings is not None and not self.schema_checked
            schema = xsd.streaming_schema(self.binding.namespace) if validating else None
            with camt_schema.opened(self.path, segment) as file:
                try:
                    for number, (event, element) in enumerate(
                        etree.iterparse(
                            file,
                            events=("start", "end"),
                            tag=(self.entry_tag, self.statement_tag),
                            schema=schema,
                            # Off, but not while validating: lxml 6 with a schema and
                            # resolve_entities=False takes a file cut short as whole. No
                            # entity can be declared anyway: a DOCTYPE is refused first
                            # (`xsd.namespace_of`, every document of the file).
                            resolve_entities=validating,
                            no_network=True,
                            huge_tree=False,
                        )
                    ):
                        if number < delivered:  # read before the XSD error: skipped
                            if event == "end":
                                _release(element)
                            continue
                        delivered += 1
                        yield event, element
                    return
                except etree.XMLSyntaxError as error:
                    if not validating:
                        raise camt_schema.not_well_formed(self.path, segment, error) from None
            assert warnings is not None
            self.check_schema(warnings)  # refuses, or the rest is read without the schema

    def read_info(self, source: str | None) -> StatementInfo:
        """The first statement's header: everything before its first entry in the XSD's
        sequence (Id, Acct, Bal, TxsSummry) is complete when the entry starts."""
        header = None
        events = self._events(self.parts[0])
        for event, element in events:
            if element.tag == self.entry_tag and event == "start":
                header = self._bind_header(element.getparent(), before=element, line=0)
                break
            if element.tag == self.statement_tag and event == "end":
                header = self._bind_header(element, before=None, line=0)
                break
        events.close()  # type: ignore[attr-defined]
        if header is None:
            raise MalformedStatement(f"no {self.binding.layout.statement} in the file")
        return camt_totals.info(header, self.binding.layout.format, source)

    def _bind_header(
        self, statement: etree._Element, *, before: etree._Element | None, line: int
    ) -> Any:
        copy = etree.Element(statement.tag, nsmap=statement.nsmap)
        for child in statement:
            if child is before:
                break
            copy.append(_deep_copy(child))
        return self._bind(copy, self.binding.statement_class, line, self.binding.layout.statement)

    def _bind(self, element: etree._Element, cls: type[Any], line: int, where: str) -> Any:
        try:
            return self.parser.parse(element, cls)
        except (ParserError, ConverterError, ValueError, TypeError) as error:
            raise MalformedStatement(f"cannot be read: {error}", line=line, field=where) from None

    def lines(self, statement: Statement) -> Iterator[StatementLine]:
        try:
            yield from self._lines(statement)
        except Exception:
            self.check_schema(Warnings())  # a file that breaks the XSD is refused for that
            raise

    def _lines(self, statement: Statement) -> Iterator[StatementLine]:
        tally = camt_totals.Tally()
        line_no = 0
        number = 0  # statements read, across documents
        for segment in self.parts:
            current: _Open | None = None
            for event, element in self._events(segment, statement.warnings):
                sourceline = segment.line_offset + (element.sourceline or 0)
                if element.tag == self.statement_tag:
                    if event == "start":
                        number += 1
                        current = _Open(number, sourceline)
                        continue
                    if current is None:  # pragma: no cover - lxml pairs start and end
                        continue
                    if current.header is None:  # a statement without entries
                        current.header = self._bind_header(element, before=None, line=sourceline)
                    statement.balances.append(self._close(current, statement.warnings))
                    _release(element)
                    current = None
                    continue
                if current is None:  # pragma: no cover - the XSD puts entries in statements
                    continue
                if event == "start":
                    if current.header is None:
                        current.header = self._bind_header(
                            element.getparent(), before=element, line=current.line
                        )
                    continue
                current.entries += 1
                where = current.where(self.binding.layout.statement)
                entry = camt_nodes.read(element, self.tags)
                amount = camt_nodes.entry_amount(entry, self.tags, sourceline, where)
                if amount.value == 0:
                    # Some banks list a movement of nothing (a card check, a waived fee):
                    # counted by TxsSummry, moves no balance, matches no order.
                    statement.warnings.add(
                        f"line {sourceline}, field {where}/Amt: an entry of 0 moves no "
                        "money, not imported"
                    )
                    lines = []
                else:
                    lines = camt_entries.entry_to_lines(
                        entry,
                        tags=self.tags,
                        amount=amount,
                        entry_no=current.entries,
                        first_line_no=line_no + 1,
                        sourceline=sourceline,
                        where=where,
                        header=current.header,
                        currency=current.currency(amount),
                        warnings=statement.warnings,
                    )
                credit = camt_nodes.is_credit(entry.first.get(self.tags.CdtDbtInd))
                current.counted.add_entry(amount.value, credit, lines)
                _release(element)
                for line in lines:
                    line_no += 1
                    tally.add(line)
                    yield line
        if number == 0:
            raise MalformedStatement(f"no {self.binding.layout.statement} in the file")
        statement.totals = ControlTotals(tally.count, tally.credits, tally.debits)

    def _close(self, current: _Open, warnings: Warnings) -> StatementBalance:
        """Check the statement's control totals (TxsSummry) against its entries and say
        what its balances make of them."""
        header = current.header
        camt_totals.check_summary(header, current.counted, current.line)
        info = camt_totals.info(header, self.binding.layout.format, None)
        balances = camt_totals.balances(header)
        currency = info.currency or current.account_currency or ""
        foreign = {name for name, b in balances.items() if currency and b.amt.ccy != currency}
        for name in sorted(foreign):
            # Never compared across currencies. No line is read from a balance, so the
            # file imports (a peer does too); the statement is simply not balance-checked.
            ccy = balances[name].amt.ccy
            warnings.add(
                f"line {current.line}, field {self.binding.layout.statement}[{current.number}]"
                f"/Bal[{name}]/Amt/@Ccy: a {name} balance in {ccy} on an account in "
                f"{currency} is not compared, so this statement's balance is not checked"
            )
        closing = balances.get("CLBD")
        return StatementBalance(
            statement_id=str(header.id),
            account=info.source,
            currency=currency,
            line=current.line,
            business_date=camt_totals.date_of(closing.dt.dt or closing.dt.dt_tm)
            if closing
            else None,
            opening=None if foreign else info.opening_balance,
            closing=None if foreign else info.closing_balance,
            credits=current.counted.booked_credits,
            debits=current.counted.booked_debits,
        )


@dataclass(slots=True)
class _Open:
    """A statement being read."""

    number: int
    line: int
    header: Any = None
    entries: int = 0
    counted: camt_totals.Counted = dataclasses.field(default_factory=camt_totals.Counted)
    account_currency: str | None = None

    def where(self, tag: str) -> str:
        prefix = f"{tag}[{self.number}]/" if self.number > 1 else ""
        return f"{prefix}Ntry[{self.entries}]"

    def currency(self, amount: camt_nodes.Money) -> str:
        """The account's currency (Acct/Ccy, else its balances'); a notification that
        states neither is in the currency of its first entry (of its `amount`)."""
        if self.account_currency is None:
            balances = camt_totals.balances(self.header)
            stated = self.header.acct.ccy or next((b.amt.ccy for b in balances.values()), None)
            self.account_currency = str(stated or amount.ccy)
        return self.account_currency


def _lenient_factory(cls: type[Any], params: dict[str, Any]) -> Any:
    """Bind an element that lacks a required child as if it were optional (None): the XSD
    pass refused such a file already if the child touches money, so what is missing here
    is something nothing is read from (a bank transaction code, say)."""
    try:
        return cls(**params)
    except TypeError:
        missing = {
            field.name: None
            for field in dataclasses.fields(cls)
            if field.init
            and field.name not in params
            and field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING
        }
        if not missing:
            raise
        return cls(**params, **missing)


def _deep_copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def _release(element: etree._Element) -> None:
    """Free a bound entry and the siblings before it, so memory stays flat."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]
