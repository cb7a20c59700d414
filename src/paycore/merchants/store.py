"""The merchants table and its SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Integer,
    String,
    Table,
    insert,
    select,
    update,
)

from paycore.merchants.model import Merchant, MerchantStatus
from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata

merchants = Table(
    "merchants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("fee_bps", Integer, nullable=False),
    Column("webhook_url", String(2048), nullable=True),
    # `<key id>:<base64 nonce+ciphertext>`, AES-GCM bound to "merchant:<id>:webhook_secret".
    Column("webhook_secret_enc", String(512), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("fee_bps >= 0 AND fee_bps <= 10000", name="ck_merchants_fee_bps"),
    CheckConstraint("status IN ('active', 'suspended')", name="ck_merchants_status"),
)

_PUBLIC = (
    merchants.c.id,
    merchants.c.name,
    merchants.c.status,
    merchants.c.fee_bps,
    merchants.c.webhook_url,
    merchants.c.created_at,
)


def _merchant(row: Any) -> Merchant:
    return Merchant(
        id=row.id,
        name=row.name,
        status=MerchantStatus(row.status),
        fee_bps=row.fee_bps,
        webhook_url=row.webhook_url,
        created_at=row.created_at,
    )


def insert_merchant(conn: Connection, merchant: Merchant, *, webhook_secret_enc: str) -> None:
    conn.execute(
        insert(merchants).values(
            id=merchant.id,
            name=merchant.name,
            status=merchant.status.value,
            fee_bps=merchant.fee_bps,
            webhook_url=merchant.webhook_url,
            webhook_secret_enc=webhook_secret_enc,
            created_at=merchant.created_at,
        )
    )


def get(conn: Connection, merchant_id: str) -> Merchant | None:
    row = conn.execute(select(*_PUBLIC).where(merchants.c.id == merchant_id)).first()
    return None if row is None else _merchant(row)


def page(conn: Connection, *, limit: int, after: str | None) -> list[Merchant]:
    query = select(*_PUBLIC).order_by(merchants.c.id).limit(limit)
    if after is not None:
        query = query.where(merchants.c.id > after)
    return [_merchant(row) for row in conn.execute(query)]


def webhook(conn: Connection, merchant_id: str) -> tuple[str | None, str] | None:
    """(url, encrypted secret) of a merchant, or None when there is no such merchant."""
    row = conn.execute(
        select(merchants.c.webhook_url, merchants.c.webhook_secret_enc).where(
            merchants.c.id == merchant_id
        )
    ).first()
    return None if row is None else (row.webhook_url, row.webhook_secret_enc)


def set_status(conn: Connection, merchant_id: str, status: MerchantStatus) -> bool:
    done = conn.execute(
        update(merchants).where(merchants.c.id == merchant_id).values(status=status.value)
    )
    return done.rowcount == 1


def set_webhook(conn: Connection, merchant_id: str, *, url: str | None, secret_enc: str) -> bool:
    done = conn.execute(
        update(merchants)
        .where(merchants.c.id == merchant_id)
        .values(webhook_url=url, webhook_secret_enc=secret_enc)
    )
    return done.rowcount == 1
