"""The exception tree, written at the top so callers know what to catch.

PaycoreError
 ├── Rejected            an expected business outcome with a stable snake_case code
 └── InvariantViolation  a broken rule; aborts the unit of work, never caught to continue
"""

from __future__ import annotations


class PaycoreError(Exception):
    """Base of every error paycore raises on purpose."""


class Rejected(PaycoreError):
    """The request was understood and refused; `code` is stable and documented."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class InvariantViolation(PaycoreError):
    """Something that must never happen did; the unit of work is rolled back."""
