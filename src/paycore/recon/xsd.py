"""Validate an ISO 20022 file against the XSD of its message, in bounded memory.

The XSDs are read in place from the packages that ship them (camt053: camt.052/053/054 of
every version; sepaxml: pain.001 and pain.008), chosen by the namespace of the file's root.

Two validators, because neither alone does both jobs on a file of millions of entries:
libxml2's (through lxml) validates while streaming, in C, about 25 times faster than
xmlschema, but reports neither the line nor the element of an error when it streams. So a
file is first validated by libxml2; only a file that fails is read again by xmlschema
(lazily, pruning the repeating elements) to name the line and element path of its first
error.
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lxml import etree

from paycore.recon.model import MalformedStatement

if TYPE_CHECKING:
    import xmlschema

ISO_NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"

_SCHEMA_PACKAGES = {
    "camt.052": ("camt053", "xsd"),
    "camt.053": ("camt053", "xsd"),
    "camt.054": ("camt053", "xsd"),
    "pain.001": ("sepaxml", "schemas"),
    "pain.008": ("sepaxml", "schemas"),
}

_LAZY_DEPTH = 3
"""Document / message / Stmt|Ntfctn|PmtInf / Ntry|CdtTrfTxInf: the element that repeats
millions of times sits at depth 3 in camt and pain messages; xmlschema prunes there."""


def message_of(namespace: str) -> str:
    """'urn:iso:std:iso:20022:tech:xsd:camt.053.001.02' -> 'camt.053.001.02'."""
    if not namespace.startswith(ISO_NAMESPACE_PREFIX):
        raise MalformedStatement(f"unsupported message: namespace {namespace!r} is not ISO 20022")
    return namespace.removeprefix(ISO_NAMESPACE_PREFIX)


def schema_file(namespace: str) -> Path:
    """The XSD of the message with this namespace, from the package that ships it."""
    message = message_of(namespace)
    package = _SCHEMA_PACKAGES.get(message[:8])
    candidate = (
        importlib.resources.files(package[0]) / package[1] / f"{message}.xsd" if package else None
    )
    if candidate is None or not candidate.is_file():
        raise MalformedStatement(f"unsupported message {message!r}: no XSD for it")
    return Path(str(candidate))


def supported_namespaces(family: str) -> list[str]:
    """Every version of a message family ('camt.053') whose XSD is shipped."""
    package = _SCHEMA_PACKAGES[family]
    folder = importlib.resources.files(package[0]) / package[1]
    return sorted(
        ISO_NAMESPACE_PREFIX + entry.name.removesuffix(".xsd")
        for entry in folder.iterdir()
        if entry.name.startswith(family + ".") and entry.name.endswith(".xsd")
    )


@functools.cache
def streaming_schema(namespace: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(schema_file(namespace))))


@functools.cache
def explaining_schema(namespace: str) -> xmlschema.XMLSchema:
    import xmlschema  # only to explain a failure: it costs every command ~150 ms to import

    return xmlschema.XMLSchema(str(schema_file(namespace)))


def syntax_error(
    error: etree.XMLSyntaxError, *, line_offset: int = 0, field: str | None = None
) -> MalformedStatement:
    """The file stops being XML: the line, and the element libxml2 names, if it does
    ("Premature end of data in tag Dt", "Couldn't find end of Start Tag Amt")."""
    line = line_offset + error.lineno if error.lineno else None
    named = _ELEMENT_IN_SYNTAX_ERROR.search(error.msg or "")
    return MalformedStatement(
        f"not well-formed XML: {error.msg}", line=line, field=named.group(1) if named else field
    )


_ELEMENT_IN_SYNTAX_ERROR = re.compile(r"(?:in tag|Start Tag|tag mismatch:) ([A-Za-z_][\w.-]*)")


def root_namespace(path: Path) -> str:
    """The namespace of the root element, read from the first bytes of the file."""
    with path.open("rb") as file:
        return namespace_of(file)


def namespace_of(file: BinaryIO, *, line_offset: int = 0) -> str:
    """The namespace of the root element of the XML document `file` holds.

    A document type declaration is refused: no ISO 20022 message has one, and it is how
    entities (an external one reading a local file, or a billion nested ones) get in."""
    parser = etree.XMLPullParser(
        events=("start",), resolve_entities=False, no_network=True, load_dtd=False
    )
    seen = b""  # the prolog, to name the line of a DOCTYPE
    try:
        while block := file.read(_PROLOG_BLOCK):
            if len(seen) < _PROLOG_KEPT_MAX:
                seen += block
            parser.feed(block)
            for _event, element in parser.read_events():
                _refuse_doctype(seen, line_offset, found=_has_doctype(element))
                return str(etree.QName(element).namespace or "")
        parser.close()
    except etree.XMLSyntaxError as error:
        for _event, element in parser.read_events():  # the root began before the break:
            _refuse_doctype(seen, line_offset, found=_has_doctype(element))
            return str(etree.QName(element).namespace or "")  # the full read names it
        _refuse_doctype(seen, line_offset, found=b"<!DOCTYPE" in seen)
        # Before the root element opened: in the declaration, or the root's own tag.
        raise syntax_error(error, line_offset=line_offset, field="prolog") from None
    raise MalformedStatement("empty XML document")


_PROLOG_BLOCK = 1 << 16
_PROLOG_KEPT_MAX = 1 << 20


def _has_doctype(element: etree._Element) -> bool:
    docinfo = element.getroottree().docinfo
    return bool(docinfo.doctype) or docinfo.internalDTD is not None


def _refuse_doctype(seen: bytes, line_offset: int, *, found: bool) -> None:
    if not found:
        return
    at = seen.find(b"<!DOCTYPE")
    line = seen[:at].count(b"\n") + 1 if at >= 0 else 1
    raise MalformedStatement(
        "a document type declaration (DOCTYPE) is not allowed",
        line=line_offset + line,
        field="DOCTYPE",
    )


def validate(path: Path) -> str:
    """Check the whole file against the XSD of its message; return the namespace.

    Raises MalformedStatement naming the line (and, for an XSD error, the element path)
    of the first error; an unknown namespace is an unsupported message."""
    return _validate(lambda: path.open("rb"), str(path))


def validate_bytes(data: bytes) -> str:
    """`validate` for a document held in memory: a file we write (a pain.001) is checked
    before it is sealed, so its clear bytes never touch the disk, not even as a partial."""
    return _validate(lambda: io.BytesIO(data), io.BytesIO(data))


def _validate(opener: Callable[[], BinaryIO], source: Any) -> str:
    with opener() as file:
        namespace = namespace_of(file)
    schema = streaming_schema(namespace)
    try:
        _stream(opener, schema)
    except etree.XMLSyntaxError as error:
        # While it validates, libxml2 reports no line even for a syntax error: read the
        # file again without the schema to name where it stops being well-formed.
        try:
            _stream(opener, None)
        except etree.XMLSyntaxError as syntax_error_:
            raise syntax_error(syntax_error_) from None
        raise _explain(source, namespace, error.msg) from None
    return namespace


def _stream(opener: Callable[[], BinaryIO], schema: etree.XMLSchema | None) -> None:
    with opener() as file:
        for _event, element in etree.iterparse(
            file,
            events=("end",),
            schema=schema,
            # lxml 6 with a schema and resolve_entities=False takes a file cut short as
            # whole; no entity can be declared anyway (a DOCTYPE is refused first).
            resolve_entities=schema is not None,
            no_network=True,
        ):
            # Keep memory flat: drop each finished element (and the siblings before it).
            element.clear(keep_tail=True)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]


def _explain(source: Any, namespace: str, streaming_message: str) -> MalformedStatement:
    """`source`: a file's path (str) or a file object over the bytes in memory."""
    import xmlschema  # see explaining_schema

    message = message_of(namespace)
    resource = xmlschema.XMLResource(
        source, lazy=_LAZY_DEPTH, thin_lazy=True, iterparse=etree.iterparse
    )
    first: Any = next(iter(explaining_schema(namespace).iter_errors(resource)), None)
    if first is None:  # the two validators disagree: still refuse, with libxml2's words
        return MalformedStatement(f"does not conform to {message}: {streaming_message}")
    return MalformedStatement(
        f"does not conform to {message}: {first.reason}",
        line=first.sourceline,
        field=first.path,
    )
