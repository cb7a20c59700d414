"""Blind index use cases: write the tokens of a row's numbers, find objects by a number.

Writes run inside the caller's unit of work (`write(conn, ...)`), so a row and its tokens
commit together or not at all. Lookups never decrypt: the number typed is normalized,
turned into one token per configured key, and matched against the index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.security import store_blind
from paycore.security.blind import KINDS, BlindIndexer, BlindKind, normalize_or_none

LOOKUP_RESULTS_MAX = 200
"""Objects one lookup answers at most (a number shared by more is a data problem)."""
_KIND_OF: dict[str, BlindKind] = {kind: kind for kind in KINDS}
OBJECT_TYPES = ("payin", "payout", "refund", "collection_plan", "custody_receipt", "recon_line")


@dataclass(frozen=True, slots=True)
class Hit:
    object_type: str
    object_id: str
    merchant_id: str | None


class BlindIndex:
    def __init__(self, engine: Engine, indexer: BlindIndexer, clock: Clock) -> None:
        self.engine = engine
        self.indexer = indexer
        self.clock = clock

    def entries(
        self,
        *,
        object_type: str,
        object_id: str,
        merchant_id: str | None,
        numbers: Mapping[str, str | None],
    ) -> list[store_blind.Entry]:
        """The index rows of an object's numbers (kinds paycore does not index, and values
        that are not well-formed numbers, are left out)."""
        found = []
        for kind in KINDS:
            normalized = normalize_or_none(kind, numbers.get(kind))
            if normalized is not None:
                token = self.indexer.token(kind, normalized)
                found.append(store_blind.Entry(kind, token, object_type, object_id, merchant_id))
        return found

    def write(
        self,
        conn: Connection,
        *,
        object_type: str,
        object_id: str,
        merchant_id: str | None,
        numbers: Mapping[str, str | None],
    ) -> None:
        """Index an object's numbers in the caller's transaction (idempotent)."""
        entries = self.entries(
            object_type=object_type, object_id=object_id, merchant_id=merchant_id, numbers=numbers
        )
        store_blind.insert_entries(conn, entries, now=self.clock.now())

    def forget(self, conn: Connection, *, object_type: str, object_id: str) -> int:
        """Drop an object's entries, in the caller's transaction: for erasure, once the
        payer's numbers were destroyed (the tokens would still link the objects)."""
        return store_blind.delete_object(conn, object_type=object_type, object_id=object_id)

    def write_recon_import(
        self, conn: Connection, import_id: str, counterparties: Sequence[tuple[int, str]]
    ) -> None:
        """Index a statement import's counterparties (line_no, account number), in the
        import's transaction, after it dropped the lines an earlier import held: those
        lines are gone, so their entries are dropped too."""
        entries = [
            entry
            for line_no, account_number in counterparties
            for entry in self.entries(
                object_type="recon_line",
                object_id=recon_line_id(import_id, line_no),
                merchant_id=None,
                numbers={"account_number": account_number},
            )
        ]
        store_blind.insert_entries(conn, entries, now=self.clock.now())
        store_blind.prune_recon_import(conn, import_id)

    def find(
        self,
        kind: BlindKind,
        value: str,
        *,
        merchant_id: str | None = None,
        object_type: str | None = None,
    ) -> list[Hit]:
        """Objects holding this number; a merchant's own only when `merchant_id` is given.
        `invalid_lookup_value` when the value is not such a number."""
        if object_type is not None and object_type not in OBJECT_TYPES:
            raise Rejected("invalid_lookup_value", f"object_type is one of {OBJECT_TYPES}")
        tokens = self.indexer.lookup_tokens(kind, value)
        with self.engine.connect() as conn:
            rows = store_blind.find(
                conn,
                kind=kind,
                tokens=tokens,
                merchant_id=merchant_id,
                object_type=object_type,
                limit=LOOKUP_RESULTS_MAX,
            )
        return [Hit(r["object_type"], r["object_id"], r["merchant_id"]) for r in rows]

    def find_any(
        self, numbers: Mapping[str, str | None], *, merchant_id: str | None = None
    ) -> list[Hit]:
        """Exactly one number of a known kind, as the API and the CLI take it."""
        given = [(_KIND_OF.get(name), value) for name, value in numbers.items() if value]
        kind, value = given[0] if len(given) == 1 else (None, None)
        if kind is None or value is None:
            raise Rejected("invalid_lookup_value", f"give exactly one of {', '.join(KINDS)}")
        return self.find(kind, value, merchant_id=merchant_id)


def recon_line_id(import_id: str, line_no: int) -> str:
    """A statement line's object id in the index (its primary key is the pair)."""
    return f"{import_id}/{line_no}"
