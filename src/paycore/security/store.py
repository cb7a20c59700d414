"""The api_keys table and its SQL.

`secret_hash` is the SHA-256 (hex) of the key's secret. A slow password KDF (bcrypt,
scrypt, Argon2) exists to make guessing a *low-entropy* password from its hash expensive;
our secrets are 256 random bits, so a leaked hash cannot be brute-forced anyway, and a
fast hash keeps a cache-missing authentication in the tens of microseconds instead of
tens of milliseconds per request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, ForeignKey, Index, String, Table, insert, select, update

import paycore.merchants.store  # noqa: F401 - declares `merchants`, which api_keys references
from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata
from paycore.security.model import ApiKey

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), ForeignKey("merchants.id"), nullable=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(512), nullable=False),  # space-separated, sorted
    Column("label", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Index("ix_api_keys_merchant_id", "merchant_id"),
)

_PUBLIC = (
    api_keys.c.id,
    api_keys.c.merchant_id,
    api_keys.c.scopes,
    api_keys.c.label,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
    api_keys.c.last_used_at,
)


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        merchant_id=row.merchant_id,
        scopes=frozenset(row.scopes.split()),
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def insert_key(conn: Connection, key: ApiKey, *, secret_hash: str) -> None:
    conn.execute(
        insert(api_keys).values(
            id=key.id,
            merchant_id=key.merchant_id,
            secret_hash=secret_hash,
            scopes=" ".join(sorted(key.scopes)),
            label=key.label,
            created_at=key.created_at,
        )
    )


def key_with_hash(conn: Connection, key_id: str) -> tuple[ApiKey, str] | None:
    row = conn.execute(
        select(*_PUBLIC, api_keys.c.secret_hash).where(api_keys.c.id == key_id)
    ).first()
    return None if row is None else (_api_key(row), row.secret_hash)


def get(conn: Connection, key_id: str) -> ApiKey | None:
    row = conn.execute(select(*_PUBLIC).where(api_keys.c.id == key_id)).first()
    return None if row is None else _api_key(row)


def page(conn: Connection, *, merchant_id: str | None, limit: int) -> list[ApiKey]:
    query = select(*_PUBLIC).order_by(api_keys.c.id).limit(limit)
    if merchant_id is not None:
        query = query.where(api_keys.c.merchant_id == merchant_id)
    return [_api_key(row) for row in conn.execute(query)]


def revoke(conn: Connection, key_id: str, *, at: datetime) -> None:
    """Marks the key revoked once; revoking again keeps the first instant."""
    conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )


def touch(conn: Connection, key_id: str, *, at: datetime) -> None:
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=at))
