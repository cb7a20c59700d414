"""Tables and SQL of the split slice: rules, splits (legs as a JSON document) and refunds.

A split row is updated only with its version, so two writers never both win; an
operation's ledger batch is written into the row (`pending_op`) before it is posted, so
whoever finds it there after a crash posts the same transfers again (moved once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    insert,
    select,
    text,
    union,
    update,
)
from sqlalchemy.exc import IntegrityError

from paycore.ledger.model import TransferRequest
from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata
from paycore.split.model import Leg, LegState, Rule, Share, Split, SplitMode, SplitStatus

rules = Table(
    "split_rules",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("product", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("freeze_s", Integer, nullable=False),
    Column("receivers", JSONDocument, nullable=False),
    Column("commission_bps", Integer, nullable=False),
    Column("commission_amount", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # One active rule per merchant, product and currency; replaced rules stay for history.
    Index(
        "ux_split_rules_active",
        "merchant_id",
        "product",
        "currency",
        unique=True,
        postgresql_where=text("active"),
        sqlite_where=text("active"),
    ),
)

splits = Table(
    "split_splits",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("payin_id", String(64), nullable=False, unique=True),
    Column("rule_id", String(64), nullable=False),
    Column("product", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("freeze_s", Integer, nullable=False),
    Column("payin_amount", BigInteger, nullable=False),
    Column("base", BigInteger, nullable=False),
    Column("legs", JSONDocument, nullable=False),
    Column("status", String(24), nullable=False),
    Column("failure_code", String(64), nullable=True),
    Column("refunded", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("pending_op", JSONDocument, nullable=False),
    Column("op_pending", Boolean, nullable=False),  # pending_op is not empty: a sweep finds it
    Column("expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_split_splits_merchant", "merchant_id", "id"),
    Index("ix_split_splits_status", "status", "expires_at"),
    Index("ix_split_splits_op_pending", "op_pending"),
)

refunds = Table(
    "split_refunds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("split_id", String(64), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("request", JSONDocument, nullable=False),
    Column("claws", JSONDocument, nullable=False),
    # clawing | refunding | refunded | undoing | failed
    Column("status", String(16), nullable=False),
    Column("failure_code", String(64), nullable=True),
    Column("refund_order_id", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Refund orders that failed without reaching the bank so far; each retry is a new
    # order under a key made with this count (issue 10).
    Column("refund_attempt", Integer, nullable=False, server_default="0"),
    Index("ix_split_refunds_split", "split_id"),
    Index("ix_split_refunds_status", "status"),
)


# -- rules ------------------------------------------------------------------------------


def replace_rule(conn: Connection, rule: Rule) -> None:
    """Deactivate the merchant's current rule for the product and currency, insert `rule`."""
    conn.execute(
        update(rules)
        .where(
            rules.c.merchant_id == rule.merchant_id,
            rules.c.product == rule.product,
            rules.c.currency == rule.currency,
            rules.c.active.is_(True),
        )
        .values(active=False)
    )
    conn.execute(
        insert(rules).values(
            id=rule.id,
            merchant_id=rule.merchant_id,
            product=rule.product,
            currency=rule.currency,
            mode=rule.mode.value,
            freeze_s=rule.freeze_s,
            receivers=[asdict(r) for r in rule.receivers],
            commission_bps=rule.commission_bps,
            commission_amount=rule.commission_amount,
            active=True,
            created_at=rule.created_at,
        )
    )


def retire_rule(conn: Connection, merchant_id: str, rule_id: str) -> bool:
    done = conn.execute(
        update(rules)
        .where(rules.c.id == rule_id, rules.c.merchant_id == merchant_id, rules.c.active.is_(True))
        .values(active=False)
    ).rowcount
    return bool(done)


def _rule(row: Any) -> Rule:
    return Rule(
        id=row.id,
        merchant_id=row.merchant_id,
        product=row.product,
        currency=row.currency,
        mode=SplitMode(row.mode),
        freeze_s=row.freeze_s,
        receivers=tuple(Share(**r) for r in row.receivers),
        commission_bps=row.commission_bps,
        commission_amount=row.commission_amount,
        created_at=row.created_at,
    )


def active_rule(conn: Connection, merchant_id: str, product: str, currency: str) -> Rule | None:
    row = conn.execute(
        select(rules).where(
            rules.c.merchant_id == merchant_id,
            rules.c.product == product,
            rules.c.currency == currency,
            rules.c.active.is_(True),
        )
    ).first()
    return _rule(row) if row else None


_ACTIVE_RULE_KEYS = select(rules.c.product, rules.c.currency).where(
    rules.c.merchant_id == bindparam("merchant_id"), rules.c.active
)


def active_rule_keys(conn: Connection, merchant_id: str) -> frozenset[tuple[str, str]]:
    """The (product, currency) pairs the merchant has an active rule for (on PostgreSQL an
    index-only read of the partial unique index)."""
    rows = conn.execute(_ACTIVE_RULE_KEYS, {"merchant_id": merchant_id})
    return frozenset((r.product, r.currency) for r in rows)


def active_rules(conn: Connection, merchant_id: str | None, *, limit: int) -> list[Rule]:
    query = select(rules).where(rules.c.active.is_(True))
    if merchant_id is not None:
        query = query.where(rules.c.merchant_id == merchant_id)
    rows = conn.execute(query.order_by(rules.c.merchant_id, rules.c.product).limit(limit))
    return [_rule(r) for r in rows]


def rule_products(conn: Connection) -> list[str]:
    rows = conn.execute(select(rules.c.product).where(rules.c.active.is_(True)).distinct())
    return [r.product for r in rows]


# -- splits -----------------------------------------------------------------------------


def legs_doc(legs: Sequence[Leg]) -> list[dict[str, Any]]:
    return [{**asdict(leg), "state": leg.state.value} for leg in legs]


def legs_of(doc: Sequence[Mapping[str, Any]]) -> list[Leg]:
    return [Leg(**{**d, "state": LegState(d["state"])}) for d in doc]


def transfers_doc(transfers: Sequence[TransferRequest]) -> list[dict[str, Any]]:
    return [asdict(t) for t in transfers]


def transfers_of(doc: Sequence[Mapping[str, Any]]) -> list[TransferRequest]:
    return [TransferRequest(**t) for t in doc]


def _split_row(split: Split) -> dict[str, Any]:
    return {
        "merchant_id": split.merchant_id,
        "payin_id": split.payin_id,
        "rule_id": split.rule_id,
        "product": split.product,
        "currency": split.currency,
        "mode": split.mode.value,
        "freeze_s": split.freeze_s,
        "payin_amount": split.payin_amount,
        "base": split.base,
        "legs": legs_doc(split.legs),
        "status": split.status.value,
        "failure_code": split.failure_code,
        "refunded": split.refunded,
        "seq": split.seq,
        "pending_op": split.pending_op,
        "op_pending": bool(split.pending_op),
        "expires_at": split.expires_at,
        "created_at": split.created_at,
        "updated_at": split.updated_at,
    }


def _split(row: Any) -> Split:
    return Split(
        id=row.id,
        merchant_id=row.merchant_id,
        payin_id=row.payin_id,
        rule_id=row.rule_id,
        product=row.product,
        currency=row.currency,
        mode=SplitMode(row.mode),
        freeze_s=row.freeze_s,
        payin_amount=row.payin_amount,
        base=row.base,
        legs=legs_of(row.legs),
        status=SplitStatus(row.status),
        failure_code=row.failure_code,
        refunded=row.refunded,
        seq=row.seq,
        pending_op=dict(row.pending_op or {}),
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def insert_split(conn: Connection, split: Split) -> bool:
    """False if the pay-in already has its split (the id is derived from the pay-in)."""
    try:
        with conn.begin_nested():
            conn.execute(insert(splits).values(id=split.id, version=0, **_split_row(split)))
    except IntegrityError:
        return False
    return True


def save_split(conn: Connection, split: Split) -> bool:
    """Write the split if nobody changed it since it was read; bumps its version."""
    done = conn.execute(
        update(splits)
        .where(splits.c.id == split.id, splits.c.version == split.version)
        .values(version=split.version + 1, **_split_row(split))
    ).rowcount
    if done:
        split.version += 1
    return bool(done)


def get_split(conn: Connection, split_id: str) -> Split | None:
    row = conn.execute(select(splits).where(splits.c.id == split_id)).first()
    return _split(row) if row else None


def split_ids_of_payins(conn: Connection, payin_ids: Sequence[str]) -> set[str]:
    rows = conn.execute(select(splits.c.payin_id).where(splits.c.payin_id.in_(list(payin_ids))))
    return {r.payin_id for r in rows}


def list_splits(
    conn: Connection, *, merchant_id: str | None, payin_id: str | None, limit: int
) -> list[Split]:
    query = select(splits)
    if merchant_id is not None:
        query = query.where(splits.c.merchant_id == merchant_id)
    if payin_id is not None:
        query = query.where(splits.c.payin_id == payin_id)
    return [_split(r) for r in conn.execute(query.order_by(splits.c.id.desc()).limit(limit))]


_FROZEN = (SplitStatus.FROZEN.value, SplitStatus.PARTIALLY_CONFIRMED.value)
_EXPIRED = (
    select(splits.c.id)
    .where(splits.c.status.in_(_FROZEN), splits.c.expires_at <= bindparam("now"))
    .limit(bindparam("limit"))
    .subquery()
)
_BUSY = (
    select(splits.c.id).where(splits.c.op_pending.is_(True)).limit(bindparam("limit")).subquery()
)
_NEEDING_WORK = union(select(_EXPIRED.c.id), select(_BUSY.c.id))


def splits_needing_work(conn: Connection, *, now: datetime, limit: int) -> list[str]:
    """Splits with an operation left half done, or frozen past their expiry (one statement:
    the tick runs it every few seconds, mostly to find nothing)."""
    rows = conn.execute(_NEEDING_WORK, {"now": now, "limit": limit})
    return sorted({r.id for r in rows})


# -- refunds ----------------------------------------------------------------------------


def insert_refund(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(refunds).values(**values))


def get_refund(conn: Connection, refund_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(refunds).where(refunds.c.id == refund_id)).first()
    return dict(row._mapping) if row else None


def update_refund(conn: Connection, refund_id: str, **values: Any) -> None:
    conn.execute(update(refunds).where(refunds.c.id == refund_id).values(**values))


def retry_refund(
    conn: Connection, refund_id: str, *, failed_order_id: str, attempt: int, now: datetime
) -> bool:
    """Forget a refund order that never reached the bank, so the next step makes a new one;
    a compare-and-set on the order and the count, so two workers never both do it."""
    changed = conn.execute(
        update(refunds)
        .where(
            refunds.c.id == refund_id,
            refunds.c.status == "refunding",
            refunds.c.refund_order_id == failed_order_id,
            refunds.c.refund_attempt == attempt,
        )
        .values(refund_order_id=None, refund_attempt=attempt + 1, updated_at=now)
    )
    return changed.rowcount == 1


def claim_refund_order(
    conn: Connection, refund_id: str, *, order_id: str, attempt: int, now: datetime
) -> bool:
    """Record the refund order of this attempt, unless another worker moved the refund on
    meanwhile (a compare-and-set: an order of an older attempt never replaces a newer)."""
    return settle_refund(
        conn, refund_id, order_id=None, attempt=attempt, now=now, refund_order_id=order_id
    )


def settle_refund(
    conn: Connection,
    refund_id: str,
    *,
    order_id: str | None,
    now: datetime,
    attempt: int | None = None,
    **values: Any,
) -> bool:
    """Change a refund still `refunding` with this order (None: none yet) and, if given,
    this attempt; False when another worker moved it on first."""
    query = update(refunds).where(refunds.c.id == refund_id, refunds.c.status == "refunding")
    if order_id is None:
        query = query.where(refunds.c.refund_order_id.is_(None))
    else:
        query = query.where(refunds.c.refund_order_id == order_id)
    if attempt is not None:
        query = query.where(refunds.c.refund_attempt == attempt)
    return conn.execute(query.values(updated_at=now, **values)).rowcount == 1


def refunds_of(conn: Connection, split_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(refunds).where(refunds.c.split_id == split_id).order_by(refunds.c.created_at)
    )
    return [dict(r._mapping) for r in rows]


def unfinished_refunds(conn: Connection, *, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(refunds)
        .where(refunds.c.status.in_(["clawing", "refunding", "undoing"]))
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]
