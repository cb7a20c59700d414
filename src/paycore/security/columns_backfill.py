"""Encrypt backfill: seal the C2 values rows kept in clear before migration 0028.

Each column moves in keyset pages (one transaction per page: the sealed values written,
the clear value emptied). The work left is exactly the rows whose clear column still
holds a value, so a run killed at any point resumes where it stopped, and a second run
finds nothing to do. Once every column reports 0 left, a later migration drops the clear
columns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table

from paycore.custody.store import subaccounts
from paycore.custody.subaccounts import VirtualAccounts
from paycore.errors import Rejected
from paycore.platform.db import WRITER
from paycore.recon.store import lines
from paycore.recon.store_lines import account_context
from paycore.rewards.notes import note_context
from paycore.rewards.store import rows as reward_rows
from paycore.security import store_columns
from paycore.security.blind import BlindIndexer
from paycore.security.crypto import FieldCipher

log = logging.getLogger(__name__)

PAGE_SIZE_DEFAULT = 500
PAGE_SIZE_MAX = 5_000

Sealer = Callable[[Mapping[str, Any]], dict[str, str | None]]
"""A row (its keys, clear value and `also` columns) to its sealed columns."""


@dataclass(frozen=True, slots=True)
class ColumnMove:
    name: str  # table.column, as the classification registry names it
    table: Table
    keys: tuple[str, ...]
    clear: str
    also: tuple[str, ...]
    seal: Sealer


class EncryptBackfill:
    def __init__(self, engine: Engine, cipher: FieldCipher, indexer: BlindIndexer) -> None:
        self._engine = engine
        self._cipher = cipher
        numbers = VirtualAccounts(cipher=cipher, indexer=indexer)
        self.moves = (
            ColumnMove(
                "custody_subaccounts.virtual_account",
                subaccounts,
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
                lines,
                ("import_id", "line_no"),
                "account",
                (),
                self._line_account,
            ),
            ColumnMove(
                "rewards_rows.note",
                reward_rows,
                ("merchant_id", "batch_id", "position"),
                "note",
                (),
                self._note,
            ),
        )

    def _line_account(self, row: Mapping[str, Any]) -> dict[str, str | None]:
        context = account_context(str(row["import_id"]), int(row["line_no"]))
        return {"account_enc": self._cipher.encrypt(str(row["account"]), context=context)}

    def _note(self, row: Mapping[str, Any]) -> dict[str, str | None]:
        note = str(row["note"])
        if not note:  # an empty note is stored as no note
            return {"note_enc": None}
        context = note_context(str(row["merchant_id"]), str(row["batch_id"]), int(row["position"]))
        return {"note_enc": self._cipher.encrypt(note, context=context)}

    def remaining(self) -> dict[str, int]:
        """Rows still holding a clear value, per column."""
        with self._engine.connect() as conn:
            return {
                m.name: store_columns.count_clear(conn, m.table, clear=m.clear) for m in self.moves
            }

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
        return {m.name: self._move(m, page_size, budget, on_page) for m in self.moves}

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
                    conn, move.table, keys=move.keys, clear=move.clear, values=values
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


def _bound(move: ColumnMove, row: Mapping[str, Any]) -> dict[str, Any]:
    """The update's parameters for one row: its keys and its sealed columns."""
    return {
        **{f"k_{k}": row[k] for k in move.keys},
        **{f"v_{name}": value for name, value in move.seal(row).items()},
    }
