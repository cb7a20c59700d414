"""Tables and SQL of the split slice."""

from __future__ import annotations
