"""Statement formats by name, each parsed by a module found by its name on first use.

The parsers live in their own modules (`recon/camt.py`, `recon/alipay.py`, ...), each with
`parse(path, *, source=None) -> Statement`; importing them only when a file of their
format arrives keeps the import of recon cheap and lets each be written on its own.

A parser refuses a bad file with `MalformedStatement` naming the line and field. An
error it did not foresee (a bug met on a file nobody imagined) is still that file's
refusal, not a crash of the import or the inbox: `parse` logs it with its trace and
answers `malformed_statement` after the last line read. The disk failing (OSError) and
memory running out are not the file's fault and pass through.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from paycore.errors import InvariantViolation, Rejected
from paycore.recon.model import MalformedStatement, Statement, StatementLine

log = logging.getLogger(__name__)

Parser = Callable[..., Statement]
_NOT_THE_FILES = (Rejected, InvariantViolation, OSError, MemoryError)


@dataclass(frozen=True, slots=True)
class Format:
    module: str
    carries_fee: bool
    """Whether the format states the channel's fee per line: only then can a fee mismatch."""


FORMATS: dict[str, Format] = {
    "sandbox_csv": Format("paycore.recon.sandbox_statement", carries_fee=True),
    "camt052": Format("paycore.recon.camt", carries_fee=False),
    "camt053": Format("paycore.recon.camt", carries_fee=False),
    "camt054": Format("paycore.recon.camt", carries_fee=False),
    "alipay": Format("paycore.recon.alipay", carries_fee=True),
    "wechat": Format("paycore.recon.wechat", carries_fee=True),
}


def register(name: str, module: str, *, carries_fee: bool) -> None:
    """Add a format (a test's or a benchmark's own small one)."""
    FORMATS[name] = Format(module, carries_fee)


def format_of(name: str) -> Format:
    found = FORMATS.get(name)
    if found is None:
        known = ", ".join(sorted(FORMATS))
        raise Rejected("unknown_format", f"{name!r} is not a statement format ({known})")
    return found


def parse(name: str, path: Path, *, source: str | None) -> Statement:
    module = importlib.import_module(format_of(name).module)
    parser: Parser = module.parse
    try:
        statement = parser(path, source=source)
    except _NOT_THE_FILES:
        raise
    except Exception as error:
        raise _unforeseen(error, name, line=None) from error
    statement.lines = _guarded(statement.lines, name)
    return statement


def _guarded(lines: Iterator[StatementLine], name: str) -> Iterator[StatementLine]:
    last = 0
    try:
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except _NOT_THE_FILES:
                raise
            except Exception as error:
                raise _unforeseen(error, name, line=last + 1) from error
            last = line.line_no
            yield line
    finally:  # abandoned half way: the parser's file is closed now, not when collected
        close = getattr(lines, "close", None)
        if close is not None:
            close()


def _unforeseen(error: Exception, name: str, *, line: int | None) -> MalformedStatement:
    log.error("the %s parser failed on a file it did not foresee", name, exc_info=error)
    return MalformedStatement(
        f"the file cannot be read as {name} ({type(error).__name__})", line=line, field="file"
    )
