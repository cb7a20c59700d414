"""Tables and SQL of the bills slice."""

from __future__ import annotations
