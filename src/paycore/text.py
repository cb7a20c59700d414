"""Text paycore stores: anything but control characters and lone surrogates.

PostgreSQL cannot store NUL in `text` (SQLite can, so the two would disagree), a lone
surrogate cannot be encoded as UTF-8 at all, and the other control characters forge
log lines and CSV rows. Tab, line feed and carriage return are text (notes, addresses).
"""

from __future__ import annotations

import re
from typing import Any

from paycore.errors import Rejected

# C0 controls but TAB/LF/CR, DEL, C1 controls, surrogates.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def is_ascii_digits(value: str) -> bool:
    """One or more of 0-9 and nothing else. `str.isdigit()` alone also takes "²", which
    int() refuses (a crash where a refusal belongs), and other scripts' digits such as
    "١٢", which int() reads as 12: neither is a number in any format paycore reads."""
    return value.isascii() and value.isdigit()


def text_problem(value: str) -> str | None:
    """What makes `value` unstorable, or None. `isprintable` is the C-fast common case."""
    if value.isprintable():
        return None
    found = _NOT_TEXT.search(value)
    if found is None:
        return None
    return f"character U+{ord(found.group()):04X} at position {found.start()} is not text"


def first_text_problem(value: Any) -> str | None:
    """The first problem of any string in `value`: a string, or keys and values of dicts
    and lists at any depth (metadata). Other values have none."""
    if type(value) is str:
        return text_problem(value)
    if not isinstance(value, dict | list | tuple):
        return None
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return problem
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None


def check_text(value: Any, *, field: str) -> None:
    """Rejected('invalid_text') naming `field` if any string in `value` is not text."""
    problem = first_text_problem(value)
    if problem is not None:
        raise Rejected("invalid_text", f"{field}: {problem}")
