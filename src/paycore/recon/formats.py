"""Statement formats by name, each parsed by a module found by its name on first use.

The parsers live in their own modules (`recon/camt.py`, `recon/alipay.py`, ...), each with
`parse(path, *, source=None) -> Statement`; importing them only when a file of their
format arrives keeps the import of recon cheap and lets each be written on its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paycore.errors import Rejected
from paycore.recon.model import Statement

Parser = Callable[..., Statement]


@dataclass(frozen=True, slots=True)
class Format:
    module: str
    carries_fee: bool
    """Whether the format states the channel's fee per line: only then can a fee mismatch."""


FORMATS: dict[str, Format] = {
    "sandbox_csv": Format("paycore.recon.sandbox_statement", carries_fee=True),
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
    return parser(path, source=source)
