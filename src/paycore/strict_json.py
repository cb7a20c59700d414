"""JSON from outside, read strictly: one parser for request bodies, callbacks and files.

`json.loads` alone lets through what paycore must not guess about: a key given twice
(the last silently wins, so `"amount": 100, "amount": 999999` pays the second), bytes
that are not UTF-8 (or UTF-16/32, which it detects), `NaN`/`Infinity`, and nesting deep
enough to exhaust the stack (RecursionError, a 500). Every such document is refused with
`malformed_json` and a detail naming the problem.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from paycore.errors import Rejected
from paycore.limits import JSON_DEPTH_MAX


class MalformedJson(Rejected):
    """A document that is not strict JSON; `position` is the character offset, if known."""

    def __init__(self, detail: str, position: int = 0) -> None:
        super().__init__("malformed_json", detail)
        self.position = position


def loads(data: bytes | str) -> Any:
    """The value of a JSON document, or MalformedJson. Bytes must be UTF-8 (RFC 8259)."""
    text = _text(data)
    try:
        value = json.loads(
            text, object_pairs_hook=_object, parse_constant=_constant, parse_float=_number
        )
    except json.JSONDecodeError as exc:
        raise MalformedJson(f"{exc.msg} at line {exc.lineno} column {exc.colno}", exc.pos) from None
    except RecursionError:  # the C parser guards its stack; far deeper than we allow anyway
        raise MalformedJson(f"nested deeper than {JSON_DEPTH_MAX} levels") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise MalformedJson(str(exc)) from None
    # Fewer brackets than the bound cannot nest deeper: C-fast, and settles nearly every body.
    if text.count("[") + text.count("{") > JSON_DEPTH_MAX:
        _check_depth(value)
    return value


def _text(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJson(f"not UTF-8: byte {exc.start} cannot be decoded", exc.start) from None


def _check_depth(value: Any) -> None:
    """Refuse nesting deeper than JSON_DEPTH_MAX, walking the parsed value level by level
    without recursion (code that later walks it recursively, like json.dumps, would not)."""
    level: list[Any] = [value]
    depth = 0
    while level:
        depth += 1
        if depth > JSON_DEPTH_MAX:
            raise MalformedJson(f"nested deeper than {JSON_DEPTH_MAX} levels")
        below: list[Any] = []
        for container in level:
            items = container.values() if type(container) is dict else container
            below.extend([c for c in items if type(c) is dict or type(c) is list])
        level = below


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # the cheap test; naming the key is the rare path
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise MalformedJson(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _number(literal: str) -> int | float:
    """JSON has one kind of number, and JSON Schema counts 2.0 as the integer 2: a whole
    number written with a fraction or an exponent reads as exactly that int (through
    Decimal: through float, 9007199254740993.0 would become ...992). A fraction finer than
    a float can hold (1.00000000000000000001) is refused rather than rounded into a whole
    number; beyond 19 digits a number stays a float, never a giant int, and every integer
    field refuses it by its bounds."""
    number = Decimal(literal)
    if number.adjusted() < _DIGITS_MAX and number == number.to_integral_value():
        return int(number)
    value = float(literal)
    if value.is_integer() and number.adjusted() < _DIGITS_MAX:
        raise MalformedJson(f"the number {literal[:40]} cannot be read exactly")
    return value


_DIGITS_MAX = 19
"""Digits of the largest 64-bit integer: the widest whole number paycore stores."""


def _constant(name: str) -> Any:
    raise MalformedJson(f"{name} is not a JSON number")
