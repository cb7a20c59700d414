"""How a camt file is cut into documents and held to its XSD: strict where money is.

**Documents.** Some banks concatenate several camt documents in one file (each with its
own `<?xml ...?>` declaration). The file is cut at every declaration after the first, and
each piece is read as its own document; line numbers stay the file's.

**Leniency.** Real bank files bend the XSD in ways that change nothing we keep: a `BIC`
where a newer version says `BICFI`, an address country `CH1`, an empty address line, a
missing element no amount depends on. A file is validated by libxml2 as its entries are
read (fast, in C: `camt._Reader`); only a file that fails is read again and each error
classified by the elements it is about: an error inside an amount, a currency, a
debit/credit sign, a status, a date or a reference (`_MONEY`) refuses the file, naming
the line and the element (for a missing element, the element where it is missing); any
other error becomes a warning kept on the import. That second pass validates each `Ntry`
on its own with xmlschema (its errors then point at the right element) and then what
remains of the document, so memory stays flat; it is slow (about 0.6 ms an entry), which
only files that bend the XSD pay.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from paycore.recon import xsd
from paycore.recon.model import MalformedStatement, Warnings

_DECLARATION = b"<?xml"
_BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 20

_MONEY = frozenset(
    {
        # amounts, currencies, signs (the error's element, an element on the way to it,
        # or the element missing)
        "Amt", "InstdAmt", "TxAmt", "CntrValAmt", "AnncdPstngAmt", "PrtryAmt", "AmtDtls",
        "Ccy", "CdtDbtInd", "RvslInd", "Chrgs", "TtlChrgsAndTaxAmt",
        # statuses and dates
        "Sts", "BookgDt", "ValDt", "FrToDt", "FrDtTm", "ToDtTm",
        # balances and control totals
        "Bal", "TxsSummry", "TtlNtries", "TtlCdtNtries", "TtlDbtNtries", "TtlNetNtry",
        "TtlNetNtryAmt", "NbOfNtries", "Sum",
        # references and the account
        "Refs", "AcctSvcrRef", "NtryRef", "EndToEndId", "TxId", "InstrId", "PmtInfId",
        "CdtrRefInf",
    }
)  # fmt: skip


_ENTRY_STANDS_FOR = frozenset({"Amt", "CdtDbtInd"})
# Parts of a balance nothing is read from (amounts available on later days, a credit
# line): what bends the XSD there cannot change what we keep.
_UNREAD = frozenset({"Avlbty", "CdtLine"})
_LIBXML2_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([\w.-]+)'")
_NAMESPACED = re.compile(r"\{[^{}]*:[^{}]*\}")  # '{urn:iso:...}BIC' -> 'BIC' in xmlschema's words


@dataclass(frozen=True, slots=True)
class Segment:
    start: int  # byte offsets in the file
    end: int
    line_offset: int  # lines of the file before the segment


def segments(path: Path) -> list[Segment]:
    """The documents of the file: cut before every XML declaration (and the byte-order
    mark before it, if any) but the one that opens the file."""
    cuts: list[tuple[int, int]] = [(0, 0)]
    position = lines = 0
    tail = b""
    with path.open("rb") as file:
        while block := file.read(_BLOCK):
            data = tail + block
            base = position - len(tail)
            found = data.find(_DECLARATION)
            while found != -1:
                start = found - len(_BOM) if data[:found].endswith(_BOM) else found
                opens_the_file = base == 0 and not data[:start].lstrip(_BOM + b" \t\r\n")
                if base + start > cuts[-1][0] and not opens_the_file:
                    cuts.append((base + start, lines + data.count(b"\n", len(tail), start)))
                found = data.find(_DECLARATION, found + 1)
            lines += block.count(b"\n")
            position += len(block)
            tail = data[-(len(_BOM) + len(_DECLARATION)) :]
    ends = [start for start, _lines in cuts[1:]] + [position]
    return [Segment(start, end, offset) for (start, offset), end in zip(cuts, ends, strict=True)]


class _Slice(io.RawIOBase):
    """The bytes [start, end) of a file, read in place."""

    def __init__(self, file: BinaryIO, segment: Segment) -> None:
        file.seek(segment.start)
        self.file = file
        self.left = segment.end - segment.start

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.file.read(size)
        self.left -= len(data)
        return data


@contextmanager
def opened(path: Path, segment: Segment) -> Iterator[BinaryIO]:
    with path.open("rb") as file:
        yield _Slice(file, segment)  # type: ignore[misc]


def namespace(path: Path, parts: list[Segment]) -> str:
    """The root namespace shared by every document of the file."""
    found: set[str] = set()
    for segment in parts:
        with opened(path, segment) as file:
            found.add(xsd.namespace_of(file, line_offset=segment.line_offset))
    if len(found) > 1:
        raise MalformedStatement(f"documents of different messages in one file: {sorted(found)}")
    return found.pop()


def not_well_formed(
    path: Path, segment: Segment, error: etree.XMLSyntaxError
) -> MalformedStatement:
    """The refusal of a document that stops being XML: its line, and the path of the
    element that was open there (read again up to the break, which only a broken file
    pays for)."""
    refusal = xsd.syntax_error(error, line_offset=segment.line_offset)
    open_elements: list[str] = []
    try:
        with opened(path, segment) as file:
            for event, element in etree.iterparse(
                file, events=("start", "end"), resolve_entities=False, no_network=True
            ):
                if event == "start":
                    open_elements.append(etree.QName(element).localname)
                else:
                    open_elements.pop()
                    element.clear(keep_tail=True)
    except etree.XMLSyntaxError:
        pass
    if not open_elements:
        return refusal
    return MalformedStatement(
        f"not well-formed XML: {error.msg}",
        line=refusal.line,
        field="/" + "/".join(open_elements),
    )


def validate(
    path: Path, segment: Segment, *, namespace: str, entry_path: str, warnings: Warnings
) -> None:
    """Hold one document to its XSD: refuse what touches money, return the rest as
    warnings. `entry_path` is the XSD path of the repeating entry (`/Document/.../Ntry`)."""
    *_, statement, entry = entry_path.split("/")
    repeating = [f"{{{namespace}}}{statement}", f"{{{namespace}}}{entry}"]
    try:
        with opened(path, segment) as file:
            _stream(file, xsd.streaming_schema(namespace), repeating)
        return
    except etree.XMLSyntaxError as error:
        streaming_message = str(error.msg)
    before = warnings.count
    with opened(path, segment) as file:
        _classify(path, file, segment, namespace, entry_path, warnings)
    if warnings.count == before:
        _unexplained(streaming_message, segment, warnings)


def _unexplained(message: str, segment: Segment, warnings: Warnings) -> None:
    """libxml2 refused what xmlschema let through (the two read a few facets apart):
    judge it by the element libxml2 names, never let it pass unsaid."""
    named = _LIBXML2_ELEMENT.search(message)
    element = named.group(1) if named else None
    reason = _NAMESPACED.sub("", message)
    if element is None or element in _MONEY:
        raise MalformedStatement(f"does not conform to the XSD: {reason}", field=element)
    warnings.add(f"document from line {segment.line_offset + 1}, field {element}: {reason}")


def _stream(file: BinaryIO, schema: etree.XMLSchema, repeating: list[str]) -> None:
    """libxml2 validates every element as it parses (in C); only the elements that
    repeat (statements, entries) come back to Python, to be dropped once validated, so
    memory stays flat at a few microseconds an entry. (A parser target that takes no
    events would build no tree at all, but libxml2 then skips the attributes' facets.)"""
    for _event, element in etree.iterparse(
        file,
        events=("end",),
        tag=repeating,
        schema=schema,
        resolve_entities=True,  # False would take a file cut short as whole (lxml 6); a
        no_network=True,  # DOCTYPE, and so any entity, was refused first (xsd.namespace_of)
    ):
        element.clear(keep_tail=True)
        parent = element.getparent()
        while parent is not None and element.getprevious() is not None:
            del parent[0]


def _classify(
    path: Path,
    file: BinaryIO,
    segment: Segment,
    namespace: str,
    entry_path: str,
    warnings: Warnings,
) -> None:
    schema = xsd.explaining_schema(namespace)
    entry_decl: Any = schema.find(entry_path, namespaces={"": namespace})
    if entry_decl is None:  # pragma: no cover - every camt XSD declares its entries
        raise LookupError(f"{entry_path} is not in the XSD of {namespace}")
    entry_tag = f"{{{namespace}}}{entry_path.rsplit('/', 1)[1]}"
    root: Any = None
    numbers: dict[Any, int] = {}
    try:
        for _event, element in etree.iterparse(
            file, events=("end",), resolve_entities=False, no_network=True
        ):
            root = element  # the last element to end is the root
            if element.tag != entry_tag:
                continue
            parent = element.getparent()
            numbers[parent] = numbers.get(parent, 0) + 1
            where = f"{_path_of(parent)}/{etree.QName(element).localname}[{numbers[parent]}]"
            for error in entry_decl.iter_errors(element):
                _judge(error, where, element, segment, warnings, _lists_booked(namespace))
            parent.remove(element)  # validated: the rest of the document is checked below
    except etree.XMLSyntaxError as broken:
        raise not_well_formed(path, segment, broken) from None
    for error in schema.iter_errors(root):
        _judge(error, "", None, segment, warnings, _lists_booked(namespace))


def _path_of(element: Any) -> str:
    """/Document/BkToCstmrStmt/Stmt, with an index where a statement repeats."""
    names: list[str] = []
    while element is not None:
        name = etree.QName(element).localname
        parent = element.getparent()
        if parent is not None:
            same = [child for child in parent if child.tag == element.tag]
            if len(same) > 1:
                name += f"[{same.index(element) + 1}]"
        names.append(name)
        element = parent
    return "/" + "/".join(reversed(names))


def _lists_booked(namespace: str) -> bool:
    """A statement (camt.053) lists booked entries (ISO's usage rule for its `Sts`); an
    intraday report or a notification may list pending ones."""
    return ":camt.053." in namespace


def _judge(
    error: Any, where: str, entry: Any, segment: Segment, warnings: Warnings, booked: bool
) -> None:
    """Refuse an error about money; keep any other as a warning."""
    element = error.elem
    chain: list[str] = []
    node = element
    while node is not None and node is not entry:
        chain.append(etree.QName(node).localname)
        node = node.getparent()
    chain.reverse()
    path = (
        where + "".join("/" + name for name in chain)
        if entry is not None
        else "/" + "/".join(chain)
    )
    line = element.sourceline if element is not None else None
    child = getattr(error, "invalid_child", None)
    expected = [getattr(p, "local_name", None) for p in getattr(error, "expected", None) or []]
    missing = [name for name in expected if name]
    subject = None
    if missing:  # name the element where it is missing, at the place it should be
        subject = missing[0]
        line = child.sourceline if child is not None else line
    elif child is not None:
        subject = etree.QName(child).localname
        line = child.sourceline
    if subject:
        path += "/" + subject
        chain.append(subject)
    line = segment.line_offset + line if line else None
    reason = _NAMESPACED.sub("", str(error.reason))
    if missing and chain[-2:-1] == ["TxDtls"] and subject in _ENTRY_STANDS_FOR:
        # A transaction without its own amount (required from .04): the entry's stands.
        warnings.add(f"line {line}, field {path}: {reason}")
        return
    if missing and booked and subject == "Sts" and entry is not None and element is entry:
        # Some banks leave Sts out of a statement, whose entries are booked by definition;
        # the statement's balances are still checked against them.
        warnings.add(f"line {line}, field {path}: {reason} (taken as BOOK in a statement)")
        return
    if missing and chain[-2:] == ["Bal", "CdtDbtInd"]:
        # A balance without its sign is a credit balance (how such banks mean it); no line
        # depends on it, and a wrong guess shows as an unbalanced statement, never silently.
        warnings.add(f"line {line}, field {path}: {reason} (taken as a credit balance)")
        return
    if (set(chain) & _MONEY and not set(chain) & _UNREAD) or _names_the_account(chain):
        raise MalformedStatement(f"does not conform to the XSD: {reason}", line=line, field=path)
    warnings.add(f"line {line}, field {path}: {reason}")


def _names_the_account(chain: list[str]) -> bool:
    """The statement's own account (Acct/Id), not its servicer's BIC or name."""
    return any(pair == ("Acct", "Id") for pair in itertools.pairwise(chain))
