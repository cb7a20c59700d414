"""Idempotency keys: a create request's key, the hash of its body, and its answer.

The key is claimed in the same transaction as the order it creates, so a retry finds
either nothing (the first attempt rolled back) or the order and, once answered, the
stored response to replay.

The response is a copy of the order's view (the payer's masked numbers, the merchant's
description): C2, so it is kept sealed in `response_enc`, bound to its key row. The JSON
text is sealed as first rendered, so a replay gets the first answer's keys in the same
order on both databases. Rows answered before migration 0030 kept it in a clear `response`
column until the encrypt backfill moved them (`seal_response_row`); 0032 drops it.
"""

from __future__ import annotations

import json
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
    Text,
    bindparam,
    select,
    text,
    update,
)

from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata
from paycore.security.crypto import FieldCipher

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("merchant_id", String(64), nullable=False),
    Column("key", String(128), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("object_id", String(64), nullable=True),
    Column("status_code", Integer, nullable=True),  # NULL while the first request runs
    Column("response_enc", Text, nullable=True),
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
    .values(status_code=bindparam("status_code"), response_enc=bindparam("enc"))
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


def response_context(merchant_id: str, key: str) -> str:
    """Binds a sealed response to its key row (the table's primary key)."""
    return f"idempotency:{merchant_id}:{key}"


def _sealed(cipher: FieldCipher, merchant_id: str, key: str, response: Mapping[str, Any]) -> str:
    document = json.dumps(dict(response), separators=(",", ":"), ensure_ascii=False)
    return cipher.encrypt(document, context=response_context(merchant_id, key))


def save_idempotent_response(
    conn: Connection,
    *,
    cipher: FieldCipher,
    merchant_id: str,
    key: str,
    status_code: int,
    response: Mapping[str, Any],
) -> None:
    conn.execute(
        _SAVE_RESPONSE,
        {
            "b_merchant_id": merchant_id,
            "b_key": key,
            "status_code": status_code,
            "enc": _sealed(cipher, merchant_id, key, response),
        },
    )


def stored_response(cipher: FieldCipher, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The answer a claimed row holds (as `claim_idempotency_key` returns it), opened.
    None: not answered yet."""
    sealed = row.get("response_enc")
    if sealed is None:
        return None
    context = response_context(str(row["merchant_id"]), str(row["key"]))
    opened: dict[str, Any] = json.loads(cipher.decrypt(sealed, context=context))
    return opened


def seal_response_row(cipher: FieldCipher, row: Mapping[str, Any]) -> dict[str, str | None]:
    """For the encrypt backfill: one old row (`merchant_id`, `key`, clear `response`) to
    its sealed column; the backfill writes it and empties `response` (still there until
    migration 0032)."""
    return {
        "response_enc": _sealed(cipher, str(row["merchant_id"]), str(row["key"]), row["response"])
    }
