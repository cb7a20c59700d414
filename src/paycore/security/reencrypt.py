"""Re-encryption of every encrypted column to the active data key: an online job.

The sweep walks each column in primary-key order (keyset batches of `BATCH_ROWS`); each
batch is one transaction that rewrites the values not yet on the active DEK and saves
the checkpoint (`security_reencrypt_progress`, keyed by the target DEK and the column),
so a crash resumes after the last committed batch. Each write is a compare-and-set on the
value read: a row the server rewrote meanwhile is left as the server wrote it.

It is safe while servers write because it starts only once every server encrypts with
the new DEK: a server learns of a rotated DEK within `envelope.REFRESH_S`, so the job
waits until that long after the DEK was created.

A payments `party_enc` is a JSON object of tokens (context `<order id>:<field>`); the
other columns hold one token each, with the context rule of their slice.

`KEPT_COLUMNS` are sealed too but append-only (the audit log's reasons, covered by its
hash chain; the AML cases' trail): never rewritten, so the data keys they are sealed under
must be kept as long as they are. `values_per_key` (`paycore security keys-status`) counts
them with the rest, so a key that still holds one is never taken for an empty one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table

from paycore.aml.cases import draft_context
from paycore.aml.cases import note_context as note_context_aml
from paycore.aml.store_cases import case_events, str_drafts
from paycore.clock import Clock, SystemClock
from paycore.collection.store import plans
from paycore.custody.store import receipts, subaccounts
from paycore.custody.subaccounts import virtual_account_context
from paycore.merchants.model import webhook_secret_context
from paycore.merchants.store import merchants
from paycore.notifications.sealing import payload_context
from paycore.notifications.store import events
from paycore.payments.details import details_context
from paycore.payments.store import orders
from paycore.payments.store_idempotency import idempotency_keys, response_context
from paycore.platform.db import WRITER
from paycore.recon.handover import line_context
from paycore.recon.store import lines
from paycore.recon.store_lines import account_context
from paycore.rewards.notes import note_context
from paycore.rewards.store import rows as reward_rows
from paycore.security import envelope
from paycore.security import store_keys as store
from paycore.security.audit import reason_context
from paycore.security.crypto import FieldCipher, token_key_id
from paycore.security.store_audit import audit_log

BATCH_ROWS = 200


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    key_columns: tuple[str, ...]
    column: str
    context: Callable[[tuple[Any, ...]], str]
    json_fields: bool = False  # a JSON object of field name -> token (context + ":field")

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"


COLUMNS = (
    EncryptedColumn(orders, ("id",), "party_enc", lambda k: str(k[0]), json_fields=True),
    EncryptedColumn(orders, ("id",), "details_enc", lambda k: details_context(k[0])),
    EncryptedColumn(plans, ("id",), "card_enc", lambda k: f"{k[0]}:card"),
    EncryptedColumn(receipts, ("id",), "payer_enc", lambda k: f"custody-payer:{k[0]}"),
    EncryptedColumn(
        lines, ("import_id", "line_no"), "counterparty_enc", lambda k: line_context(k[0], k[1])
    ),
    # Before the merchants' secrets: tests stop a run after its last column's first batch.
    EncryptedColumn(
        subaccounts,
        ("bank", "merchant_id", "owner"),
        "virtual_account_enc",
        lambda k: virtual_account_context(k[0], k[1], k[2]),
    ),
    EncryptedColumn(
        lines, ("import_id", "line_no"), "account_enc", lambda k: account_context(k[0], k[1])
    ),
    EncryptedColumn(
        reward_rows,
        ("merchant_id", "batch_id", "position"),
        "note_enc",
        lambda k: note_context(k[0], k[1], k[2]),
    ),
    EncryptedColumn(
        idempotency_keys,
        ("merchant_id", "key"),
        "response_enc",
        lambda k: response_context(k[0], k[1]),
    ),
    EncryptedColumn(events, ("id",), "payload_enc", lambda k: payload_context(k[0])),
    EncryptedColumn(
        str_drafts, ("case_id", "draft_no"), "document_enc", lambda k: draft_context(k[0], k[1])
    ),
    EncryptedColumn(
        merchants, ("id",), "webhook_secret_enc", lambda k: webhook_secret_context(k[0])
    ),
)

KEPT_COLUMNS = (
    EncryptedColumn(audit_log, ("seq",), "reason_enc", lambda k: reason_context(k[0])),
    EncryptedColumn(
        case_events, ("case_id", "seq"), "note_enc", lambda k: note_context_aml(k[0], k[1])
    ),
)


@dataclass(frozen=True)
class BatchDone:
    column: str
    rows_done: int
    values_moved: int  # since the job began (over every run)
    moved_in_batch: int


def reencrypt_all(
    engine: Engine,
    cipher: FieldCipher,
    *,
    clock: Clock | None = None,
    on_batch: Callable[[BatchDone], None] = lambda _: None,
    wait: Callable[[float], None] = time.sleep,
    stop_after_batches: int | None = None,
) -> int:
    """Move every value to the active DEK; returns the values moved by this run.
    `stop_after_batches` ends early (a crash in tests, or a bounded slice of work)."""
    clock = clock or SystemClock()
    dek_id = cipher.keyring.active().id
    _wait_until_servers_use(engine, dek_id, clock=clock, wait=wait)
    moved, batches = 0, 0
    for spec in COLUMNS:
        while stop_after_batches is None or batches < stop_after_batches:
            done = _one_batch(engine, cipher, spec, dek_id=dek_id, now=clock.now())
            if done is None:
                break
            batches += 1
            moved += done.moved_in_batch
            on_batch(done)
    return moved


def _wait_until_servers_use(
    engine: Engine, dek_id: str, *, clock: Clock, wait: Callable[[float], None]
) -> None:
    with engine.connect() as conn:
        created_at: datetime = store.data_key(conn, dek_id).created_at
    remaining = envelope.REFRESH_S - (clock.now() - created_at).total_seconds()
    if remaining > 0:
        wait(remaining)


def _one_batch(
    engine: Engine, cipher: FieldCipher, spec: EncryptedColumn, *, dek_id: str, now: datetime
) -> BatchDone | None:
    """One keyset batch in one transaction; None when the column is finished."""
    # A writer from its first read: on SQLite no server write can slip in between the read
    # and the compare-and-set (on PostgreSQL the compare-and-set settles it).
    with engine.connect().execution_options(**WRITER) as conn, conn.begin():
        saved = store.progress(conn, dek_id, spec.name)
        if saved is not None and saved.finished_at is not None:
            return None
        after = tuple(json.loads(saved.after_key)) if saved and saved.after_key else None
        rows_done = saved.rows_done if saved else 0
        moved_before = moved = saved.values_moved if saved else 0
        rows = store.encrypted_batch(
            conn, spec.table, key_columns=spec.key_columns, column=spec.column,
            after=after, limit=BATCH_ROWS,
        )  # fmt: skip
        for row in rows:
            key, value = tuple(row[:-1]), row[-1]
            new = _rotated(cipher, spec, key, value)
            if new != value and store.replace_encrypted(
                conn, spec.table, key_columns=spec.key_columns, key=key,
                column=spec.column, old=value, new=new,
            ):  # fmt: skip
                moved += _count(spec, value, cipher)
        last = json.dumps(list(rows[-1][:-1])) if rows else (saved.after_key if saved else None)
        store.save_progress(
            conn, dek_id=dek_id, column_name=spec.name, after_key=last,
            rows_done=rows_done + len(rows), values_moved=moved,
            finished_at=None if len(rows) == BATCH_ROWS else now, updated_at=now,
        )  # fmt: skip
    return BatchDone(spec.name, rows_done + len(rows), moved, moved - moved_before)


def _rotated(cipher: FieldCipher, spec: EncryptedColumn, key: tuple[Any, ...], value: Any) -> Any:
    context = spec.context(key)
    if not spec.json_fields:
        return cipher.reencrypt(str(value), context=context)
    return {
        name: cipher.reencrypt(token, context=f"{context}:{name}") for name, token in value.items()
    }


def _count(spec: EncryptedColumn, value: Any, cipher: FieldCipher) -> int:
    tokens = list(value.values()) if spec.json_fields else [value]
    return sum(1 for token in tokens if cipher.needs_rotation(str(token)))


def values_per_key(engine: Engine) -> dict[str, dict[str, int]]:
    """{column: {key id: values}} over every encrypted column (a full scan: for status)."""
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for spec in (*COLUMNS, *KEPT_COLUMNS):
            per_key = counts.setdefault(spec.name, {})
            for (value,) in store.all_encrypted(conn, spec.table, spec.column):
                tokens = list(value.values()) if spec.json_fields else [value]
                for token in tokens:
                    key_id = token_key_id(str(token))
                    per_key[key_id] = per_key.get(key_id, 0) + 1
    return counts
