"""Tables and SQL of the custody slice."""

from __future__ import annotations
