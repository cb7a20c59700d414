"""Tables and SQL of the rewards slice."""

from __future__ import annotations
