"""Tables and SQL of the collection slice."""

from __future__ import annotations
