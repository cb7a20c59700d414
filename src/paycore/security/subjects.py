"""Data-subject requests: export everything paycore holds on a payer, or erase it.

A request names one number (card, ID, phone or account number). The blind index finds
the objects holding it; nothing is decrypted to search.

Export (`pii:reveal` and a reason, one audit record): the payment orders found (and the
refunds of those pay-ins) with their decrypted party fields, amounts, dates, statuses;
the collection plans; the custody receipts; the recon lines; and the audit records about
those objects, as one JSON-ready document. A merchant's key gets its own objects only.

Erase (`admin` and `pii:reveal`, a reason, one audit record): every data subject found
for that payer is crypto-shredded (`FieldCipher.shred`: values sealed under it read as
`[erased]` forever, backups included), the objects' blind-index rows are removed (so
lookups find nothing), and the masked copies (last digits, a name's first character) are
blanked. The ledger, the journal, the orders' amounts and statuses are never touched.
The subjects are the payer's strongest identifier's tokens (security/subjects_choice.py):
those of the objects found, and any object sealed under one of them is erased too.
Erasure is refused (409) while paycore still needs the clear number to move money:
`subject_refund_pending` for a statement receipt not yet paid back or claimed (the
cut-off pays it back to the payer's account) or a payout not yet final;
`subject_plan_active` for a collection plan that may charge the card again (cancel it
first). Erasing twice is fine (the second finds nothing).

Values sealed before subjects existed (no `subject=`) cannot be shredded: erasure only
unlinks them (index rows, masked copies). `paycore security reencrypt` keeps a value's
subject; it does not add one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine

from paycore.errors import Rejected
from paycore.payments.details import open_order_details
from paycore.recon.handover import line_context
from paycore.security import store_subjects as store
from paycore.security.audit import AuditEntry, check_reason
from paycore.security.blind import KINDS, BlindKind
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher, SubjectErased
from paycore.security.model import Principal, Scope
from paycore.security.reveal import AuditLog
from paycore.security.store_subjects import ERASED_MARK, ObjectRef

AUDIT_RECORDS_MAX = 1000
"""Audit records one export carries at most (oldest first)."""
ACTION_EXPORT = "pii.subject_export"
ACTION_ERASE = "pii.subject_erase"
REFUND_DUE_RECEIPT = frozenset({"landing", "unmatched", "refunding", "refund_failed"})
"""A statement receipt in these states may still be paid back to its payer's account."""
PAYOUT_NOT_FINAL = frozenset({"created", "processing"})
PLAN_CHARGING = frozenset({"active", "paused"})
"""A plan in these states may charge its card again (a paused one once resumed)."""

__all__ = ["ERASED_MARK", "Erased", "Subjects"]


@dataclass(frozen=True, slots=True)
class Erased:
    objects: int
    """Objects whose payer data was erased (0 when erasing again)."""
    subjects_shredded: int
    index_rows_removed: int
    audit_seq: int


@dataclass(frozen=True, slots=True)
class _Request:
    kind: BlindKind
    value: str
    digest: str
    """The number's blind token without its key id: the audit record's object id."""


class Subjects:
    """Thread-safe; one per process."""

    def __init__(
        self, engine: Engine, *, cipher: FieldCipher, blind: BlindIndex, audit: AuditLog
    ) -> None:
        self._engine = engine
        self._cipher = cipher
        self._blind = blind
        self._audit = audit

    # -- export ------------------------------------------------------------------------

    def export(
        self,
        principal: Principal,
        *,
        numbers: Mapping[str, str | None],
        reason: str | None,
        request_id: str,
    ) -> dict[str, Any]:
        """Everything held on the payer with this number, decrypted; audited."""
        if not principal.can(Scope.PII_REVEAL):
            raise Rejected("forbidden", f"this API key lacks the {Scope.PII_REVEAL} scope")
        stored_reason = check_reason(reason)
        request = self._request(numbers)
        hits = self._blind.find(request.kind, request.value, merchant_id=principal.merchant_id)
        if not hits:
            raise Rejected("subject_not_found", f"no object holds this {request.kind}")
        by_type: dict[str, list[str]] = {}
        for hit in hits:
            by_type.setdefault(hit.object_type, []).append(hit.object_id)
        document = self._document(request, by_type)
        record = self._record(
            principal, request, ACTION_EXPORT, sorted(by_type), stored_reason, request_id
        )
        document["audit_seq"] = record
        return document

    def _document(self, request: _Request, by_type: Mapping[str, list[str]]) -> dict[str, Any]:
        order_ids = [i for t in ("payin", "payout", "refund") for i in by_type.get(t, [])]
        line_keys = [_line_key(i) for i in by_type.get("recon_line", [])]
        with self._engine.connect() as conn:
            order_rows = store.payment_orders(conn, order_ids) if order_ids else []
            plan_rows = store.collection_plans(conn, by_type.get("collection_plan", []))
            receipt_rows = store.custody_receipts(conn, by_type.get("custody_receipt", []))
            line_rows = store.recon_lines(conn, line_keys)
            object_ids = {r.id for r in (*order_rows, *plan_rows, *receipt_rows)}
            object_ids |= {f"{r.import_id}/{r.line_no}" for r in line_rows}
            audit = store.audit_about(conn, object_ids | {request.digest}, limit=AUDIT_RECORDS_MAX)
        return {
            "subject": {"kind": request.kind},
            "payment_orders": [self._order(r) for r in order_rows],
            "collection_plans": [self._plan(r) for r in plan_rows],
            "custody_receipts": [self._receipt(r) for r in receipt_rows],
            "recon_lines": [self._line(r) for r in line_rows],
            "audit_records": [_plain(self._audit.shown(r)) for r in audit],
        }

    def _order(self, row: Any) -> dict[str, Any]:
        party = {
            name: self._open(token, f"{row.id}:{name}") for name, token in row.party_enc.items()
        }
        return _plain(
            {
                "id": row.id,
                "kind": row.kind,
                "merchant_id": row.merchant_id,
                "parent_id": row.parent_id,
                "amount_minor": row.amount,
                "currency": row.currency,
                "status": row.status,
                "description": _description(self._cipher, row),
                "party": dict(sorted(party.items())),
                "created_at": row.created_at,
                "finished_at": row.finished_at,
            }
        )

    def _plan(self, row: Any) -> dict[str, Any]:
        card = None if row.card_enc is None else self._open(row.card_enc, f"{row.id}:card")
        return _plain(
            {
                "id": row.id,
                "merchant_id": row.merchant_id,
                "amount_minor": row.amount,
                "currency": row.currency,
                "status": row.status,
                "card_number": card,
                "created_at": row.created_at,
            }
        )

    def _receipt(self, row: Any) -> dict[str, Any]:
        payer = None
        if row.payer_enc is not None:
            payer = self._open_json(row.payer_enc, f"custody-payer:{row.id}")
        return _plain(
            {
                "id": row.id,
                "merchant_id": row.merchant_id,
                "amount_minor": row.amount,
                "currency": row.currency,
                "status": row.status,
                "payer": payer,
                "received_at": row.received_at,
            }
        )

    def _line(self, row: Any) -> dict[str, Any]:
        counterparty = None
        if row.counterparty_enc is not None:
            context = line_context(row.import_id, row.line_no)
            counterparty = self._open_json(row.counterparty_enc, context)
        return _plain(
            {
                "id": f"{row.import_id}/{row.line_no}",
                "source": row.source,
                "amount_minor": row.amount,
                "currency": row.currency,
                "direction": row.direction,
                "booked_at": row.booked_at,
                "counterparty": counterparty,
            }
        )

    def _open(self, token: str, context: str) -> str:
        try:
            return self._cipher.decrypt(token, context=context)
        except SubjectErased:
            return ERASED_MARK

    def _open_json(self, token: str, context: str) -> Any:
        clear = self._open(token, context)
        return ERASED_MARK if clear == ERASED_MARK else json.loads(clear)

    # -- erase -------------------------------------------------------------------------

    def erase(
        self,
        principal: Principal,
        *,
        numbers: Mapping[str, str | None],
        reason: str | None,
        request_id: str,
    ) -> Erased:
        """Crypto-shred the payer's subjects and unlink their objects; audited."""
        if not (principal.is_admin and principal.can(Scope.PII_REVEAL)):
            raise Rejected("forbidden", f"erasure needs {Scope.ADMIN} and {Scope.PII_REVEAL}")
        if principal.merchant_id is not None:  # a subject's key spans every merchant
            raise Rejected("forbidden", "erasure needs a platform key")
        stored_reason = check_reason(reason)
        request = self._request(numbers)
        objects, subjects = self._reach(request)
        shredded = sum(1 for subject in sorted(subjects) if self._cipher.shred(subject))
        types = sorted({object_type for object_type, _ in objects})
        with self._audit.begin() as conn:
            removed = store.forget(conn, objects)
            store.blank_masked(
                conn,
                order_ids=[i for t, i in objects if t in ("payin", "payout")],
                plan_ids=[i for t, i in objects if t == "collection_plan"],
            )
            store.delete_line_counterparties(
                conn, [_line_key(i) for t, i in objects if t == "recon_line"]
            )
            entry = self._entry(principal, request, ACTION_ERASE, types, stored_reason, request_id)
            record = self._audit.append(conn, entry)
        return Erased(len(objects), shredded, removed, record.seq)

    def _reach(self, request: _Request) -> tuple[set[ObjectRef], set[str]]:
        """The objects to erase and the live subjects among their tokens; refused while
        paycore still owes the payer a payment only their account number can make."""
        hits = self._blind.find(request.kind, request.value)
        objects: set[ObjectRef] = {(h.object_type, h.object_id) for h in hits}
        with self._engine.connect() as conn:
            tokens = store.tokens_of(conn, objects)
            tokens |= set(self._blind.indexer.lookup_tokens(request.kind, request.value))
            subjects = store.live_subjects(conn, tokens)
            sealed = store.objects_of(conn, subjects)
            objects |= {(r["object_type"], r["object_id"]) for r in sealed}
            _refuse_pending(conn, objects)
        return objects, subjects

    # -- shared ------------------------------------------------------------------------

    def _request(self, numbers: Mapping[str, str | None]) -> _Request:
        given = [(name, value) for name, value in numbers.items() if value]
        kind = next((k for k in KINDS if len(given) == 1 and given[0][0] == k), None)
        if kind is None:
            raise Rejected("invalid_lookup_value", f"give exactly one of {', '.join(KINDS)}")
        value = str(given[0][1])
        token = self._blind.indexer.lookup_tokens(kind, value)[-1]
        return _Request(kind, value, token.partition(":")[2])

    def _entry(
        self,
        principal: Principal,
        request: _Request,
        action: str,
        object_types: list[str],
        reason: str,
        request_id: str,
    ) -> AuditEntry:
        return AuditEntry(
            at=self._audit.clock.now(),
            actor_key_id=principal.key_id,
            merchant_id=principal.merchant_id,
            action=action,
            object_type="data_subject",
            object_id=request.digest,
            fields=tuple(object_types),
            reason=reason,
            request_id=request_id,
        )

    def _record(
        self,
        principal: Principal,
        request: _Request,
        action: str,
        object_types: list[str],
        reason: str,
        request_id: str,
    ) -> int:
        entry = self._entry(principal, request, action, object_types, reason, request_id)
        return self._audit.record(entry).seq


def _refuse_pending(conn: Any, objects: set[ObjectRef]) -> None:
    receipt_ids = [i for t, i in objects if t == "custody_receipt"]
    for row in store.custody_receipts(conn, receipt_ids) if receipt_ids else []:
        if row.origin == "statement" and row.status in REFUND_DUE_RECEIPT:
            raise Rejected(
                "subject_refund_pending",
                f"custody receipt {row.id} is still to be paid back to this payer",
            )
    plan_ids = [i for t, i in objects if t == "collection_plan"]
    for row in store.collection_plans(conn, plan_ids) if plan_ids else []:
        if row.card_enc is not None and row.status in PLAN_CHARGING:
            raise Rejected(
                "subject_plan_active",
                f"collection plan {row.id} still charges this card: cancel it first",
            )
    payout_ids = [i for t, i in objects if t == "payout"]
    for row in store.payment_orders(conn, payout_ids) if payout_ids else []:
        if row.kind == "payout" and row.status in PAYOUT_NOT_FINAL:
            raise Rejected("subject_refund_pending", f"payout {row.id} is not final yet")


def _description(cipher: FieldCipher, row: Any) -> str:
    """The order's description, sealed with its metadata (none: no token)."""
    if row.details_enc is None:
        return ""
    return open_order_details(cipher, row.id, row.details_enc)[0]


def _line_key(object_id: str) -> tuple[str, int]:
    import_id, _, line_no = object_id.rpartition("/")
    return import_id, int(line_no)


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready: instants and dates as ISO 8601, the rest as stored."""
    return {key: _iso(value) for key, value in values.items()}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
