"""What the HTTP API and the CLI show of the recon slice's objects: plain dicts."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any


def view(row: dict[str, Any]) -> dict[str, Any]:
    """Dates and instants as ISO 8601 text; everything else as stored."""
    return {
        key: value.isoformat() if isinstance(value, date | datetime) else value
        for key, value in row.items()
    }


def break_view(row: dict[str, Any]) -> dict[str, Any]:
    shown = view({k: v for k, v in row.items() if k != "events"})
    if "events" in row:
        shown["events"] = [view(e) for e in row["events"]]
    return shown


def import_view(row: dict[str, Any]) -> dict[str, Any]:
    """An import, with its warnings as a list of texts (stored as JSON)."""
    shown = view(row)
    stored = row.get("warnings")
    shown["warnings"] = json.loads(stored) if stored else []
    return shown
