"""Reward notes at rest: a merchant's text for one recipient may name a person (C2), so
each non-empty note is kept as a FieldCipher token bound to its row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from paycore.errors import InvariantViolation
from paycore.rewards.model import PlannedRow, RowOutcome
from paycore.security.crypto import FieldCipher


def note_context(merchant_id: str, batch_id: str, position: int) -> str:
    """Binds a sealed note to its row."""
    return f"rewards-note:{merchant_id}:{batch_id}:{position}"


class RewardNotes:
    """A cipher is required: a note is never kept in clear (migration 0032 drops the
    clear column), so a service built without one is a wiring defect."""

    def __init__(self, cipher: FieldCipher | None) -> None:
        if cipher is None:
            raise InvariantViolation("reward notes need a field cipher: they are kept sealed")
        self._cipher = cipher

    def seal(
        self, merchant_id: str, batch_id: str, planned: Sequence[PlannedRow]
    ) -> dict[int, str]:
        """Each non-empty note sealed, by position."""
        return {
            p.position: self._cipher.encrypt(
                p.note, context=note_context(merchant_id, batch_id, p.position)
            )
            for p in planned
            if p.note  # an empty note is stored as none
        }

    def opened(
        self, merchant_id: str, batch_id: str, rows: Sequence[tuple[RowOutcome, str | None]]
    ) -> list[RowOutcome]:
        """Rows as store.list_rows reads them (each with its sealed note), notes opened."""
        return [
            row
            if sealed is None
            else replace(row, note=self._open(merchant_id, batch_id, row, sealed))
            for row, sealed in rows
        ]

    def _open(self, merchant_id: str, batch_id: str, row: RowOutcome, sealed: str) -> str:
        context = note_context(merchant_id, batch_id, row.position)
        return self._cipher.decrypt(sealed, context=context)
