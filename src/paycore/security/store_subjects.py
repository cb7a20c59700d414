"""SQL of data-subject requests: what paycore holds on the objects the blind index found.

Reads the slices' rows by id (read only, except the masked copies erasure blanks) and
the audit records about them. Amounts, statuses and the journal are never written here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, select, tuple_, update

from paycore.collection.store import plans
from paycore.custody.store import receipts
from paycore.payments.store import orders
from paycore.recon.store import lines
from paycore.security.store_audit import audit_log
from paycore.security.store_blind import blind_index
from paycore.security.store_keys import subject_keys

ObjectRef = tuple[str, str]
"""(object type, object id) as the blind index names an object."""
ERASED_MARK = "[erased]"
"""What an erased personal field reads as, everywhere (API, CLI, exports)."""


def tokens_of(conn: Connection, objects: Collection[ObjectRef]) -> set[str]:
    """Every token the index holds for these objects (one per number and key)."""
    if not objects:
        return set()
    t = blind_index.c
    query = select(t.token).where(tuple_(t.object_type, t.object_id).in_(list(objects)))
    return {str(token) for token in conn.scalars(query)}


def live_subjects(conn: Connection, tokens: Collection[str]) -> set[str]:
    """The tokens that are a data subject with a key (not yet shredded)."""
    if not tokens:
        return set()
    s = subject_keys.c
    return {str(v) for v in conn.scalars(select(s.subject).where(s.subject.in_(list(tokens))))}


def objects_of(conn: Connection, tokens: Collection[str]) -> list[dict[str, Any]]:
    """The objects holding any of these tokens, whichever kind of number they are."""
    if not tokens:
        return []
    t = blind_index.c
    query = (
        select(t.object_type, t.object_id, t.merchant_id)
        .where(t.token.in_(list(tokens)))
        .distinct()
        .order_by(t.object_type, t.object_id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def forget(conn: Connection, objects: Collection[ObjectRef]) -> int:
    if not objects:
        return 0
    t = blind_index.c
    query = blind_index.delete().where(tuple_(t.object_type, t.object_id).in_(list(objects)))
    return conn.execute(query).rowcount or 0


def payment_orders(conn: Connection, order_ids: Sequence[str]) -> list[Any]:
    """The orders, and the refunds of those that are pay-ins (they carry no number)."""
    o = orders.c
    query = select(orders).where(o.id.in_(order_ids) | o.parent_id.in_(order_ids))
    return list(conn.execute(query.order_by(o.id)))


def collection_plans(conn: Connection, plan_ids: Sequence[str]) -> list[Any]:
    return list(conn.execute(select(plans).where(plans.c.id.in_(plan_ids)).order_by(plans.c.id)))


def custody_receipts(conn: Connection, receipt_ids: Sequence[str]) -> list[Any]:
    c = receipts.c
    return list(conn.execute(select(receipts).where(c.id.in_(receipt_ids)).order_by(c.id)))


def recon_lines(conn: Connection, keys: Sequence[tuple[str, int]]) -> list[Any]:
    if not keys:
        return []
    c = lines.c
    query = select(lines).where(tuple_(c.import_id, c.line_no).in_(list(keys)))
    return list(conn.execute(query.order_by(c.import_id, c.line_no)))


def audit_about(
    conn: Connection, object_ids: Collection[str], *, limit: int
) -> list[dict[str, Any]]:
    """The audit records whose object is one of these, oldest first (no hashes: the
    chain is verified by `paycore audit verify`, not by whoever reads an export)."""
    if not object_ids:
        return []
    a = audit_log.c
    query = (
        select(
            a.seq,
            a.at,
            a.action,
            a.actor_key_id,
            a.object_type,
            a.object_id,
            a.fields,
            a.reason,
            a.reason_enc,  # sealed since 0031: AuditLog.shown opens it
        )
        .where(a.object_id.in_(list(object_ids)))
        .order_by(a.seq)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def delete_line_counterparties(conn: Connection, keys: Sequence[tuple[str, int]]) -> None:
    """Statement lines keep their payer sealed under the statement's data key, not a
    subject key (a key per counterparty of a million-line statement would cost a write
    each), so erasing a payer deletes that sealed copy instead of shredding a key."""
    if keys:
        c = lines.c
        condition = tuple_(c.import_id, c.line_no).in_(list(keys))
        conn.execute(update(lines).where(condition).values(counterparty_enc=None))


def blank_masked(conn: Connection, *, order_ids: Sequence[str], plan_ids: Sequence[str]) -> None:
    """The masked copies (last digits, a name's first character) go with the subject:
    they are the payer's data too. Amounts and statuses are left alone."""
    o = orders.c
    for row in conn.execute(select(o.id, o.party_masked).where(o.id.in_(order_ids))).all():
        # The bank code names a bank, not a person: a return still needs it.
        blanked = {k: v if k == "bank_code" else ERASED_MARK for k, v in row.party_masked.items()}
        conn.execute(update(orders).where(o.id == row.id).values(party_masked=blanked))
    if plan_ids:
        c = plans.c
        conn.execute(
            update(plans)
            .where(c.id.in_(plan_ids), c.card_masked.is_not(None))
            .values(card_masked=ERASED_MARK)
        )
