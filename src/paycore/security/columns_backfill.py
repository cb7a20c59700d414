"""Encrypt backfill: seal the C2 values rows kept in clear before migrations 0028-0030.

Each column moves in keyset pages (one transaction per page: the sealed values written,
the clear value emptied). The work left is exactly the rows whose clear column still
holds a value, so a run killed at any point resumes where it stopped, and a second run
finds nothing to do. Once every column reports 0 left, migration 0032 drops the clear
columns (it refuses before).

The code's Table objects no longer have the clear columns, so the backfill names them in
light `table()`/`column()` definitions of its own, read against a database still at
0031; a column the database no longer has (0032 applied) is skipped: nothing left there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, TableClause, column, inspect, table

from paycore.custody.subaccounts import VirtualAccounts
from paycore.errors import Rejected
from paycore.notifications.sealing import seal_payload_row
from paycore.payments.details import seal_order_details
from paycore.payments.store_idempotency import seal_response_row
from paycore.platform.db import WRITER, JSONDocument
from paycore.recon.store_lines import account_context
from paycore.rewards.notes import note_context
from paycore.security import store_columns
from paycore.security.blind import BlindIndexer
from paycore.security.crypto import FieldCipher

log = logging.getLogger(__name__)

PAGE_SIZE_DEFAULT = 500
PAGE_SIZE_MAX = 5_000

CLEAR_COLUMNS = (
    ("custody_subaccounts", "virtual_account"),
    ("recon_lines", "account"),
    ("rewards_rows", "note"),
    ("payment_orders", "description"),
    ("payment_orders", "metadata"),
    ("idempotency_keys", "response"),
    ("notification_events", "payload"),
)
"""The clear C2 columns migration 0032 drops once they are empty; a test checks that it
names the same ones and that each has a move here (payment_orders: see PENDING_MOVES)."""

PENDING_MOVES: frozenset[str] = frozenset()
"""Clear columns whose move is not written yet (none: the test wants one per column)."""

# The legacy columns as the database at 0031 still has them: the keys, the clear column
# and the sealed columns a move writes (the code's own tables no longer name the clear ones).
_SUBACCOUNTS = table(
    "custody_subaccounts",
    column("bank"),
    column("merchant_id"),
    column("owner"),
    column("virtual_account"),
    column("virtual_account_enc"),
    column("virtual_account_hmac"),
)
_LINES = table(
    "recon_lines", column("import_id"), column("line_no"), column("account"), column("account_enc")
)
_REWARD_ROWS = table(
    "rewards_rows",
    column("merchant_id"),
    column("batch_id"),
    column("position"),
    column("note"),
    column("note_enc"),
)
# JSON typed as the tables had them, so a row reads back as the mapping that was stored.
_IDEMPOTENCY_KEYS = table(
    "idempotency_keys",
    column("merchant_id"),
    column("key"),
    column("response", JSONDocument),
    column("response_enc"),
)
_ORDERS = table(
    "payment_orders",
    column("id"),
    column("description"),
    column("metadata", JSONDocument),
    column("details_enc"),
)
_EVENTS = table(
    "notification_events", column("id"), column("payload", JSONDocument), column("payload_enc")
)

Sealer = Callable[[Mapping[str, Any]], dict[str, str | None]]
"""A row (its keys, clear value and `also` columns) to its sealed columns."""


@dataclass(frozen=True, slots=True)
class ColumnMove:
    name: str  # table.column, as the classification registry names it
    table: TableClause
    keys: tuple[str, ...]
    clear: str
    also: tuple[str, ...]
    seal: Sealer
    empties: tuple[str, ...] = ()
    """Other clear columns the sealed value holds too, emptied with `clear`."""


class EncryptBackfill:
    def __init__(self, engine: Engine, cipher: FieldCipher, indexer: BlindIndexer) -> None:
        self._engine = engine
        self._cipher = cipher
        numbers = VirtualAccounts(cipher=cipher, indexer=indexer)
        self.moves = (
            ColumnMove(
                "custody_subaccounts.virtual_account",
                _SUBACCOUNTS,
                ("bank", "merchant_id", "owner"),
                "virtual_account",
                (),
                lambda row: dict(
                    numbers.seal(
                        str(row["virtual_account"]),
                        bank=str(row["bank"]),
                        merchant_id=str(row["merchant_id"]),
                        owner=str(row["owner"]),
                    )
                ),
            ),
            ColumnMove(
                "recon_lines.account",
                _LINES,
                ("import_id", "line_no"),
                "account",
                (),
                self._line_account,
            ),
            ColumnMove(
                "rewards_rows.note",
                _REWARD_ROWS,
                ("merchant_id", "batch_id", "position"),
                "note",
                (),
                self._note,
            ),
            # An order's description and metadata are sealed together (one token): a row
            # is moved by whichever of the two still holds a value, and both are emptied.
            ColumnMove(
                "payment_orders.description",
                _ORDERS,
                ("id",),
                "description",
                ("metadata",),
                self._order_details,
                empties=("metadata",),
            ),
            ColumnMove(
                "payment_orders.metadata",
                _ORDERS,
                ("id",),
                "metadata",
                ("description",),
                self._order_details,
                empties=("description",),
            ),
            ColumnMove(
                "idempotency_keys.response",
                _IDEMPOTENCY_KEYS,
                ("merchant_id", "key"),
                "response",
                (),
                lambda row: seal_response_row(cipher, row),
            ),
            ColumnMove(
                "notification_events.payload",
                _EVENTS,
                ("id",),
                "payload",
                (),
                lambda row: seal_payload_row(cipher, row),
            ),
        )

    def _order_details(self, row: Mapping[str, Any]) -> dict[str, str | None]:
        metadata = row["metadata"] if isinstance(row["metadata"], Mapping) else {}
        token = seal_order_details(
            self._cipher, str(row["id"]), str(row["description"] or ""), metadata
        )
        return {"details_enc": token}

    def _line_account(self, row: Mapping[str, Any]) -> dict[str, str | None]:
        context = account_context(str(row["import_id"]), int(row["line_no"]))
        return {"account_enc": self._cipher.encrypt(str(row["account"]), context=context)}

    def _note(self, row: Mapping[str, Any]) -> dict[str, str | None]:
        note = str(row["note"])
        if not note:  # an empty note is stored as no note
            return {"note_enc": None}
        context = note_context(str(row["merchant_id"]), str(row["batch_id"]), int(row["position"]))
        return {"note_enc": self._cipher.encrypt(note, context=context)}

    def present(self) -> tuple[ColumnMove, ...]:
        """The moves whose clear column the database still has (none once 0032 ran)."""
        with self._engine.connect() as conn:
            return tuple(m for m in self.moves if _has_column(conn, m))

    def remaining(self) -> dict[str, int]:
        """Rows still holding a clear value, per column the database still has."""
        moves = self.present()
        with self._engine.connect() as conn:
            return {m.name: store_columns.count_clear(conn, m.table, clear=m.clear) for m in moves}

    def run(
        self,
        *,
        page_size: int = PAGE_SIZE_DEFAULT,
        pages: int | None = None,
        on_page: Callable[[str, int], None] | None = None,
    ) -> dict[str, int]:
        """Seal up to `pages` pages (all when None), column by column; rows sealed per
        column. `on_page(column, rows)` after each committed page."""
        if not 0 < page_size <= PAGE_SIZE_MAX:
            raise Rejected("page_size_out_of_range", f"page size is 1 to {PAGE_SIZE_MAX}")
        budget = [pages]
        return {m.name: self._move(m, page_size, budget, on_page) for m in self.present()}

    def _move(
        self,
        move: ColumnMove,
        page_size: int,
        budget: list[int | None],
        on_page: Callable[[str, int], None] | None,
    ) -> int:
        moved = 0
        after: tuple[Any, ...] | None = None
        while budget[0] is None or budget[0] > 0:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                page = store_columns.clear_page(
                    conn,
                    move.table,
                    keys=move.keys,
                    clear=move.clear,
                    also=move.also,
                    after=after,
                    limit=page_size,
                )
                values = [_bound(move, row) for row in page]
                store_columns.seal(
                    conn,
                    move.table,
                    keys=move.keys,
                    clear=(move.clear, *move.empties),
                    values=values,
                )
            if budget[0] is not None:
                budget[0] -= 1
            moved += len(page)
            if page:
                after = tuple(page[-1][k] for k in move.keys)
                log.info("encrypt backfill %s: %d rows sealed", move.name, moved)
                if on_page is not None:
                    on_page(move.name, len(page))
            if len(page) < page_size:
                break
        return moved


def _has_column(conn: Connection, move: ColumnMove) -> bool:
    found = inspect(conn)
    if not found.has_table(move.table.name):
        return False
    return any(c["name"] == move.clear for c in found.get_columns(move.table.name))


def _bound(move: ColumnMove, row: Mapping[str, Any]) -> dict[str, Any]:
    """The update's parameters for one row: its keys and its sealed columns."""
    return {
        **{f"k_{k}": row[k] for k in move.keys},
        **{f"v_{name}": value for name, value in move.seal(row).items()},
    }
