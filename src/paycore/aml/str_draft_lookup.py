"""The transactions an STR draft lists, read from the warehouse the rules scored.

A reason names ledger transfer ids or payment order ids (rules/*.sql); both are looked up
by id in the Parquet warehouse, on DuckDB, as the rules read it (rules.open_warehouse).
An id the warehouse does not hold (not exported yet, or a warehouse that moved) is listed
as not found rather than failing the draft.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from paycore.aml.rules import open_warehouse
from paycore.aml.str_draft import Transaction

_QUERY = """
WITH wanted AS (SELECT unnest($ids) AS id)
SELECT t.id, 'transfer' AS kind, t.amount, t.currency, t.created_at
FROM ledger_transfers t JOIN wanted w ON w.id = t.id
UNION ALL
SELECT o.id, o.kind, o.amount, o.currency, o.created_at
FROM payment_orders o JOIN wanted w ON w.id = o.id
"""


class TransactionLookup(Protocol):
    def find(self, ids: Sequence[str]) -> list[Transaction]:
        """One Transaction per id, in the order asked."""
        ...


class WarehouseLookup:
    def __init__(self, root: Path) -> None:
        self._root = root

    def find(self, ids: Sequence[str]) -> list[Transaction]:
        found: dict[str, Transaction] = {}
        if ids and self._root.is_dir():
            with open_warehouse(self._root, threads=1) as con:
                for tid, kind, amount, currency, at in con.execute(
                    _QUERY, {"ids": list(ids)}
                ).fetchall():
                    found.setdefault(
                        str(tid), Transaction(str(tid), str(kind), int(amount), currency, _utc(at))
                    )
        return [
            found.get(tid) or Transaction(tid, "unknown", None, None, None, False) for tid in ids
        ]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
