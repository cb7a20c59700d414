"""Idempotency keys: a create request's key, the hash of its body, and its answer.

The key is claimed in the same transaction as the order it creates, so a retry finds
either nothing (the first attempt rolled back) or the order and, once answered, the
stored response to replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    bindparam,
    select,
    text,
    update,
)

from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("merchant_id", String(64), nullable=False),
    Column("key", String(128), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("object_id", String(64), nullable=True),
    Column("status_code", Integer, nullable=True),  # NULL while the first request runs
    Column("response", JSONDocument, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "key"),
)


_KEY = (idempotency_keys.c.merchant_id == bindparam("b_merchant_id")) & (
    idempotency_keys.c.key == bindparam("b_key")
)
_GET = select(idempotency_keys).where(_KEY)
_SAVE_RESPONSE = (
    update(idempotency_keys)
    .where(_KEY)
    .values(status_code=bindparam("status_code"), response=bindparam("response"))
)
# RETURNING says whether the row went in (psycopg reports no rowcount for this). Written
# as text, which both databases read alike: the dialects' `insert().on_conflict_do_nothing()`
# is never cached by SQLAlchemy, so it was compiled again on every create.
_CLAIM = text(
    "INSERT INTO idempotency_keys (merchant_id, key, request_hash, object_id, created_at)"
    " VALUES (:merchant_id, :key, :request_hash, :object_id, :created_at)"
    " ON CONFLICT DO NOTHING RETURNING key"
).bindparams(bindparam("created_at", type_=UTCDateTime()))


def claim_idempotency_key(
    conn: Connection,
    *,
    merchant_id: str,
    key: str,
    request_hash: str,
    object_id: str,
    now: datetime,
) -> Mapping[str, Any] | None:
    """Claim the key for `object_id`; None if it was free, else the row an earlier request
    left. One statement: a concurrent claim of the same key simply inserts nothing."""
    claimed = conn.execute(
        _CLAIM,
        {
            "merchant_id": merchant_id,
            "key": key,
            "request_hash": request_hash,
            "object_id": object_id,
            "created_at": now,
        },
    )
    if claimed.first() is not None:
        return None
    row = conn.execute(_GET, {"b_merchant_id": merchant_id, "b_key": key}).one()
    return dict(row._mapping)


def save_idempotent_response(
    conn: Connection, *, merchant_id: str, key: str, status_code: int, response: Mapping[str, Any]
) -> None:
    conn.execute(
        _SAVE_RESPONSE,
        {
            "b_merchant_id": merchant_id,
            "b_key": key,
            "status_code": status_code,
            "response": dict(response),
        },
    )
