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
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

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


def claim_idempotency_key(
    conn: Connection, *, merchant_id: str, key: str, request_hash: str, now: datetime
) -> Mapping[str, Any] | None:
    """Insert the key; None if it is new, else the row a previous request left."""
    existing = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.merchant_id == merchant_id, idempotency_keys.c.key == key
        )
    ).first()
    if existing is not None:
        return dict(existing._mapping)
    try:
        with conn.begin_nested():
            conn.execute(
                insert(idempotency_keys),
                {
                    "merchant_id": merchant_id,
                    "key": key,
                    "request_hash": request_hash,
                    "created_at": now,
                },
            )
    except IntegrityError:
        row = conn.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.merchant_id == merchant_id, idempotency_keys.c.key == key
            )
        ).one()
        return dict(row._mapping)
    return None


def set_idempotency_object(conn: Connection, *, merchant_id: str, key: str, object_id: str) -> None:
    conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.merchant_id == merchant_id, idempotency_keys.c.key == key)
        .values(object_id=object_id)
    )


def save_idempotent_response(
    conn: Connection, *, merchant_id: str, key: str, status_code: int, response: Mapping[str, Any]
) -> None:
    conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.merchant_id == merchant_id, idempotency_keys.c.key == key)
        .values(status_code=status_code, response=dict(response))
    )
