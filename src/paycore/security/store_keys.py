"""Tables of envelope encryption: wrapped data keys, data-subject keys, re-encryption
checkpoints. No clear key is ever stored: a DEK is stored wrapped by a KEK, a subject
key is a random salt that is useless without the (wrapped) DEK.
"""

from __future__ import annotations

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
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)

from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata

data_keys = Table(
    "security_data_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kek_id", String(64), nullable=False),
    Column("wrapped", String(256), nullable=True),  # base64; NULL once destroyed
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime, nullable=True),
    Column("destroyed_at", UTCDateTime, nullable=True),
)

subject_keys = Table(
    "security_subject_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    # NULL once shredded: nothing then links the row to the person.
    Column("subject", String(128), nullable=True, unique=True),
    Column("salt", String(64), nullable=True),  # base64 of 32 random bytes; NULL once shredded
    Column("created_at", UTCDateTime, nullable=False),
    Column("shredded_at", UTCDateTime, nullable=True),
)

reencrypt_progress = Table(
    "security_reencrypt_progress",
    metadata,
    Column("data_key_id", String(64), nullable=False),
    Column("column_name", String(64), nullable=False),
    Column("after_key", String(256), nullable=True),  # JSON of the last primary key done
    Column("rows_done", Integer, nullable=False),
    Column("values_moved", Integer, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("data_key_id", "column_name"),
)


def insert_data_key(
    conn: Connection, *, dek_id: str, kek_id: str, wrapped: str, created_at: datetime
) -> None:
    conn.execute(
        insert(data_keys).values(id=dek_id, kek_id=kek_id, wrapped=wrapped, created_at=created_at)
    )


def active_data_key(conn: Connection) -> Any:
    """The newest data key not retired (ids are time-ordered)."""
    query = select(data_keys).where(data_keys.c.retired_at.is_(None))
    return conn.execute(query.order_by(data_keys.c.id.desc()).limit(1)).first()


def data_key(conn: Connection, dek_id: str) -> Any:
    return conn.execute(select(data_keys).where(data_keys.c.id == dek_id)).first()


def all_data_keys(conn: Connection) -> list[Any]:
    return list(conn.execute(select(data_keys).order_by(data_keys.c.id)))


def retire_data_keys_before(conn: Connection, dek_id: str, *, at: datetime) -> None:
    conn.execute(
        update(data_keys)
        .where(data_keys.c.id < dek_id, data_keys.c.retired_at.is_(None))
        .values(retired_at=at)
    )


def rewrap_data_key(conn: Connection, dek_id: str, *, kek_id: str, wrapped: str) -> None:
    conn.execute(
        update(data_keys).where(data_keys.c.id == dek_id).values(kek_id=kek_id, wrapped=wrapped)
    )


def destroy_data_key(conn: Connection, dek_id: str, *, at: datetime) -> None:
    conn.execute(
        update(data_keys).where(data_keys.c.id == dek_id).values(wrapped=None, destroyed_at=at)
    )


_SUBJECT_KEY_BY_SUBJECT = select(subject_keys).where(
    subject_keys.c.subject == bindparam("b_subject")
)
"""Built once: on a pay-in's path, building the statement cost more than running it."""


def subject_key_by_subject(conn: Connection, subject: str) -> Any:
    return conn.execute(_SUBJECT_KEY_BY_SUBJECT, {"b_subject": subject}).first()


def subject_key(conn: Connection, key_id: str) -> Any:
    return conn.execute(select(subject_keys).where(subject_keys.c.id == key_id)).first()


def insert_subject_key(
    conn: Connection, *, key_id: str, subject: str, salt: str, created_at: datetime
) -> None:
    conn.execute(
        insert(subject_keys).values(id=key_id, subject=subject, salt=salt, created_at=created_at)
    )


# One statement, no savepoint: a subject another transaction made inserts nothing
# instead of raising (and, on PostgreSQL, aborting the pay-in's transaction). As text,
# because SQLAlchemy never caches the dialects' on_conflict_do_nothing() constructs.
_CLAIM_SUBJECT_KEY = text(
    "INSERT INTO security_subject_keys (id, subject, salt, created_at)"
    " VALUES (:id, :subject, :salt, :created_at) ON CONFLICT DO NOTHING RETURNING id"
).bindparams(bindparam("created_at", type_=UTCDateTime()))


def claim_subject_key(
    conn: Connection, *, key_id: str, subject: str, salt: str, created_at: datetime
) -> bool:
    """Insert the subject's key in the caller's transaction; False if the subject has one
    (on PostgreSQL, after waiting for a transaction that is inserting it to end)."""
    inserted = conn.execute(
        _CLAIM_SUBJECT_KEY,
        {"id": key_id, "subject": subject, "salt": salt, "created_at": created_at},
    )
    return inserted.first() is not None


def shred_subject_key(conn: Connection, subject: str, *, at: datetime) -> bool:
    done = conn.execute(
        update(subject_keys)
        .where(subject_keys.c.subject == subject)
        .values(subject=None, salt=None, shredded_at=at)
    )
    return done.rowcount > 0


def count_subject_keys(conn: Connection) -> tuple[int, int]:
    """(live, shredded)."""
    rows = conn.execute(
        select(subject_keys.c.salt.is_(None), func.count()).group_by(subject_keys.c.salt.is_(None))
    )
    counts = {bool(shredded): int(n) for shredded, n in rows}
    return counts.get(False, 0), counts.get(True, 0)


def progress(conn: Connection, dek_id: str, column_name: str) -> Any:
    query = select(reencrypt_progress).where(
        reencrypt_progress.c.data_key_id == dek_id,
        reencrypt_progress.c.column_name == column_name,
    )
    return conn.execute(query).first()


def save_progress(
    conn: Connection,
    *,
    dek_id: str,
    column_name: str,
    after_key: str | None,
    rows_done: int,
    values_moved: int,
    finished_at: datetime | None,
    updated_at: datetime,
) -> None:
    values = dict(
        after_key=after_key,
        rows_done=rows_done,
        values_moved=values_moved,
        finished_at=finished_at,
        updated_at=updated_at,
    )
    done = conn.execute(
        update(reencrypt_progress)
        .where(
            reencrypt_progress.c.data_key_id == dek_id,
            reencrypt_progress.c.column_name == column_name,
        )
        .values(**values)
    )
    if done.rowcount == 0:
        conn.execute(
            insert(reencrypt_progress).values(data_key_id=dek_id, column_name=column_name, **values)
        )


def encrypted_batch(
    conn: Connection,
    table: Table,
    *,
    key_columns: tuple[str, ...],
    column: str,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Any]:
    """The next `limit` rows with a value, in primary-key order after `after` (keyset)."""
    keys = [table.c[name] for name in key_columns]
    query = select(*keys, table.c[column]).where(table.c[column].is_not(None))
    if after is not None:
        query = query.where(tuple_(*keys) > tuple_(*after))
    return list(conn.execute(query.order_by(*keys).limit(limit)))


def replace_encrypted(
    conn: Connection,
    table: Table,
    *,
    key_columns: tuple[str, ...],
    key: tuple[Any, ...],
    column: str,
    old: Any,
    new: Any,
) -> bool:
    """Compare-and-set: a value the server rewrote since it was read is left alone (the
    server wrote it with the new key)."""
    where = [table.c[name] == value for name, value in zip(key_columns, key, strict=True)]
    done = conn.execute(update(table).where(*where, table.c[column] == old).values({column: new}))
    return done.rowcount > 0


def all_encrypted(conn: Connection, table: Table, column: str) -> list[Any]:
    return list(conn.execute(select(table.c[column]).where(table.c[column].is_not(None))))
