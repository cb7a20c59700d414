"""The audit_log table (append-only: the database refuses UPDATE and DELETE, see migration
0027) and audit_chain_head, the one row that names the last record.

Appends serialize on the head row: `SELECT ... FOR UPDATE` on PostgreSQL (a second server
process waits there until the first commits, then chains onto its record); on SQLite the
writer's BEGIN IMMEDIATE already admits one writer at a time. The seq primary key is the
last line of defence: two records can never share a place.

Since migration 0031 a record's reason is sealed (`reason_enc`, `format` 2) and `reason`
is NULL; records written before keep their clear reason (`format` NULL, read as 1): the
log is never rewritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata
from paycore.security.audit import (
    FORMAT_CLEAR,
    GENESIS_HASH,
    AuditEntry,
    AuditRecord,
    ChainHead,
)

HEAD_ROW_ID = 1

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor_key_id", String(64), nullable=False),
    Column("merchant_id", String(64), nullable=True),
    Column("action", String(32), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("fields", String(512), nullable=False),  # comma-separated field names
    Column("reason", Text, nullable=True),  # format 1 only (before 0031)
    Column("request_id", String(128), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("reason_enc", Text, nullable=True),  # format 2: FieldCipher token
    Column("format", SmallInteger, nullable=True),  # NULL: format 1
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor", "actor_key_id", "seq"),
)

audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)


def lock_head(conn: Connection) -> ChainHead:
    """The head, locked until the transaction ends; made on the first append."""
    query = select(audit_chain_head.c.seq, audit_chain_head.c.hash).where(
        audit_chain_head.c.id == HEAD_ROW_ID
    )
    row = conn.execute(query.with_for_update()).first()
    if row is None:
        # Two first appends may race here: one inserts, the other's insert waits for it and
        # does nothing, and both then lock the same row.
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        first = {"id": HEAD_ROW_ID, "seq": 0, "hash": GENESIS_HASH}
        conn.execute(dialect.insert(audit_chain_head).values(first).on_conflict_do_nothing())
        row = conn.execute(query.with_for_update()).one()
    return ChainHead(int(row.seq), str(row.hash))


def append(conn: Connection, record: AuditRecord) -> None:
    """Writes the record and moves the head to it; the caller holds the head's lock."""
    entry = record.entry
    conn.execute(
        insert(audit_log).values(
            seq=record.seq,
            at=entry.at,
            actor_key_id=entry.actor_key_id,
            merchant_id=entry.merchant_id,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            fields=",".join(entry.fields),
            reason=entry.reason if record.record_format == FORMAT_CLEAR else None,
            reason_enc=record.reason_enc,
            format=None if record.record_format == FORMAT_CLEAR else record.record_format,
            request_id=entry.request_id,
            prev_hash=record.prev_hash,
            hash=record.hash,
        )
    )
    conn.execute(
        update(audit_chain_head)
        .where(audit_chain_head.c.id == HEAD_ROW_ID)
        .values(seq=record.seq, hash=record.hash)
    )


def head(conn: Connection) -> ChainHead | None:
    row = conn.execute(
        select(audit_chain_head.c.seq, audit_chain_head.c.hash).where(
            audit_chain_head.c.id == HEAD_ROW_ID
        )
    ).first()
    return None if row is None else ChainHead(int(row.seq), str(row.hash))


def records_after(conn: Connection, seq: int, *, limit: int) -> list[AuditRecord]:
    """The next records in seq order: the pages of a walk along the chain."""
    query = select(audit_log).where(audit_log.c.seq > seq).order_by(audit_log.c.seq).limit(limit)
    return [_record(row) for row in conn.execute(query)]


def page(
    conn: Connection, *, since: datetime | None, actor_key_id: str | None, limit: int
) -> list[AuditRecord]:
    """The first `limit` records at or after `since` (by one actor), oldest first."""
    query = select(audit_log).order_by(audit_log.c.seq).limit(limit)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if actor_key_id is not None:
        query = query.where(audit_log.c.actor_key_id == actor_key_id)
    return [_record(row) for row in conn.execute(query)]


def _record(row: Any) -> AuditRecord:
    entry = AuditEntry(
        at=row.at,
        actor_key_id=row.actor_key_id,
        merchant_id=row.merchant_id,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        fields=tuple(f for f in row.fields.split(",") if f),
        reason=row.reason,
        request_id=row.request_id,
    )
    return AuditRecord(
        seq=int(row.seq),
        entry=entry,
        prev_hash=row.prev_hash,
        hash=row.hash,
        record_format=FORMAT_CLEAR if row.format is None else int(row.format),
        reason_enc=row.reason_enc,
    )
