"""The payments world (two scripted channels) for the flow check's tests."""

from __future__ import annotations

from tests.payments.conftest import world

__all__ = ["world"]
