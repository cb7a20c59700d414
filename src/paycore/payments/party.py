"""A payment order's party (the payer, the beneficiary): its fields sealed, and what is
written with the order in its transaction: the blind index of its numbers and, for a
payer the database does not know yet, the row of its data-subject key."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection

from paycore.payments import store
from paycore.payments.model import Order
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher, SubjectKey


class Party:
    """A party's sealed fields, its blind index and its subject key, written with the
    order. A new subject key is claimed in that same transaction: no write of its own
    on another connection (which cost a payer's first pay-in a third of its CPU), and a
    rollback leaves neither a row nor a cached key (envelope.py)."""

    def __init__(
        self,
        cipher: FieldCipher,
        blind: BlindIndex | None,
        order: Order,
        fields: Mapping[str, str | None],
        numbers: Mapping[str, str | None],
        key: SubjectKey | None,
    ) -> None:
        self._cipher, self._blind, self._order = cipher, blind, order
        self._fields, self._numbers, self._key = fields, numbers, key
        self._claimed: SubjectKey | None = None

    def seal(self, key: SubjectKey | None) -> dict[str, str]:
        order_id, cipher = self._order.id, self._cipher
        if key is None:
            return {
                name: cipher.encrypt(value, context=f"{order_id}:{name}")
                for name, value in self._fields.items()
                if value
            }
        return {
            name: cipher.encrypt_for(value, context=f"{order_id}:{name}", key=key)
            for name, value in self._fields.items()
            if value
        }

    def on_record(self, conn: Connection) -> None:
        order = self._order
        if self._blind is not None:
            self._blind.write(
                conn,
                object_type=order.kind.value,
                object_id=order.id,
                merchant_id=order.merchant_id,
                numbers=self._numbers,
            )
        key = self._key
        if key is None or not key.new:
            return
        held = self._cipher.claim_subject(conn, key)
        if held.id != key.id:  # another transaction made this payer's key first
            order.party_enc = self.seal(held)
            store.save_party(conn, order.id, order.party_enc)
        self._claimed = held

    def committed(self) -> None:
        """After the order's transaction committed: the process may use the key now."""
        if self._claimed is not None:
            self._cipher.remember_subject(self._claimed)
