"""Reveal clear personal data, audited (the audit log itself: audit_service.py, whose
AuditLog is re-exported here for its callers).

A reveal reads the object and appends its audit record in one transaction, and the clear
values are handed back only after that transaction commits: if the record cannot be
written, nothing is revealed. Clear values are never logged; the log line of a reveal
names the key, the object, the field names and the audit seq.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from paycore.errors import Rejected
from paycore.payments import store as payments_store
from paycore.payments.model import Order, OrderKind
from paycore.payments.service import Payments
from paycore.security.audit import (
    FIELDS_MAX,
    AuditAction,
    AuditEntry,
    AuditRecord,
    check_reason,
)
from paycore.security.audit_service import UNREADABLE_REASON, AuditLog, Verified
from paycore.security.crypto import SubjectErased
from paycore.security.model import Principal, Scope
from paycore.security.store_subjects import ERASED_MARK

log = logging.getLogger(__name__)

__all__ = [
    "UNREADABLE_REASON",
    "AuditLog",
    "RevealSource",
    "Revealed",
    "Reveals",
    "Sealed",
    "Verified",
    "payment_sources",
]


@dataclass(frozen=True, slots=True)
class Sealed:
    """An object's encrypted personal data, as found."""

    owner_id: str | None
    open: Callable[[], Mapping[str, str]]
    """Decrypts every field the object holds (absent ones are not in the mapping)."""


@dataclass(frozen=True, slots=True)
class RevealSource:
    """An object type whose personal data can be revealed."""

    fields: frozenset[str]
    not_found_code: str
    load: Callable[[Connection, str], Sealed | None]


@dataclass(frozen=True, slots=True)
class Revealed:
    object_type: str
    object_id: str
    fields: Mapping[str, str]
    audit_seq: int | None
    """None when the object held none of the fields asked for (nothing was seen)."""


class Reveals:
    """Reveal the clear personal data of the objects of `sources`, one audit record each."""

    def __init__(self, audit: AuditLog, sources: Mapping[str, RevealSource]) -> None:
        self._audit = audit
        self._sources = dict(sources)

    @property
    def object_types(self) -> list[str]:
        return sorted(self._sources)

    def reveal(
        self,
        principal: Principal,
        *,
        object_type: str,
        object_id: str,
        fields: Sequence[str] | None,
        reason: str | None,
        request_id: str,
    ) -> Revealed:
        """The clear `fields` (all the object holds when None) of an object the principal
        sees, for a key with `pii:reveal` and a reason of 10-500 characters."""
        if not principal.can(Scope.PII_REVEAL):
            raise Rejected("forbidden", f"this API key lacks the {Scope.PII_REVEAL} scope")
        stored_reason = check_reason(reason)
        source = self._source(object_type)
        wanted = _wanted(source, fields)
        with self._audit.begin() as conn:
            sealed = source.load(conn, object_id)
            if sealed is None or not principal.sees(sealed.owner_id):
                raise Rejected(source.not_found_code, f"no {object_type} {object_id}")
            clear = {k: v for k, v in sealed.open().items() if k in wanted}
            if not clear:
                return Revealed(object_type, object_id, {}, None)
            entry = AuditEntry(
                at=self._audit.clock.now(),
                actor_key_id=principal.key_id,
                merchant_id=principal.merchant_id,
                action=AuditAction.PII_REVEAL,
                object_type=object_type,
                object_id=object_id,
                fields=tuple(sorted(clear)),
                reason=stored_reason,
                request_id=request_id,
            )
            record = self._audit.append(conn, entry)
        _log_reveal(record)
        return Revealed(object_type, object_id, clear, record.seq)

    def disclose(
        self,
        principal: Principal,
        *,
        action: AuditAction,
        object_type: str,
        object_id: str,
        fields: Sequence[str],
        reason: str | None,
        request_id: str,
    ) -> AuditRecord:
        """Record clear personal data handed out other than by `reveal` (a payout file for
        the bank's portal): the same scope and reason, one audit record, before the data
        leaves."""
        if not principal.can(Scope.PII_REVEAL):
            raise Rejected("forbidden", f"this API key lacks the {Scope.PII_REVEAL} scope")
        entry = AuditEntry(
            at=self._audit.clock.now(),
            actor_key_id=principal.key_id,
            merchant_id=principal.merchant_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            fields=tuple(sorted(fields)),
            reason=check_reason(reason),
            request_id=request_id,
        )
        record = self._audit.record(entry)
        _log_reveal(record)
        return record

    def _source(self, object_type: str) -> RevealSource:
        source = self._sources.get(object_type)
        if source is None:
            raise Rejected(
                "reveal_object_type_unknown", f"object_type is one of {self.object_types}"
            )
        return source


def _log_reveal(record: AuditRecord) -> None:
    """Who saw which fields of what: names only, never a value."""
    entry = record.entry
    log.info(
        "key %s revealed %s of %s %s (audit seq %d, request %s)",
        entry.actor_key_id,
        ",".join(entry.fields),
        entry.object_type,
        entry.object_id,
        record.seq,
        entry.request_id,
    )


def _wanted(source: RevealSource, fields: Sequence[str] | None) -> frozenset[str]:
    if fields is None:
        return source.fields
    if len(fields) > FIELDS_MAX:
        raise Rejected("reveal_field_unknown", f"at most {FIELDS_MAX} fields")
    unknown = sorted(set(fields) - source.fields)
    if unknown or not fields:
        shown = ", ".join(repr(f[:32]) for f in unknown) or "none"
        raise Rejected("reveal_field_unknown", f"{shown}: fields are {sorted(source.fields)}")
    return frozenset(fields)


PAYIN_FIELDS = frozenset({"card_number", "name", "id_number", "phone"})
PAYOUT_FIELDS = frozenset({"account_number", "name"})


def _party(payments: Payments, order: Order) -> dict[str, str]:
    """The clear party; an erased payer's fields (crypto-shredded) read as erased."""
    try:
        return payments.reveal_party(order)
    except SubjectErased:
        return {name: ERASED_MARK for name in order.party_enc}


def payment_sources(payments: Payments) -> dict[str, RevealSource]:
    """Pay-ins (the payer) and payouts (the beneficiary), decrypted by the payments slice."""

    def loader(kind: OrderKind) -> Callable[[Connection, str], Sealed | None]:
        def load(conn: Connection, order_id: str) -> Sealed | None:
            order = payments_store.get_order(conn, order_id)
            if order is None or order.kind is not kind:
                return None
            return Sealed(order.merchant_id, lambda: _party(payments, order))

        return load

    return {
        "payin": RevealSource(PAYIN_FIELDS, "order_not_found", loader(OrderKind.PAYIN)),
        "payout": RevealSource(PAYOUT_FIELDS, "order_not_found", loader(OrderKind.PAYOUT)),
    }
