"""The audit log's use cases: append (the reason sealed), verify the chain, list.

Appends run in the caller's transaction (a reveal reads and records in one), serialized on
the chain head. The cipher seals each new reason under `audit-reason:<seq>` and opens it
for readers; verifying needs no key at all (the chain hashes the stored token).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from paycore.clock import Clock, SystemClock
from paycore.errors import Rejected
from paycore.platform.db import WRITER
from paycore.security import store_audit
from paycore.security.audit import (
    LIST_PAGE_MAX,
    AuditEntry,
    AuditRecord,
    ChainBreak,
    ChainHead,
    ChainWalk,
    next_record,
    reason_context,
)
from paycore.security.crypto import CipherError, FieldCipher, KeyStoreUnbound

log = logging.getLogger(__name__)

VERIFY_PAGE = 1000
"""Records read per round trip while walking the chain."""
UNREADABLE_REASON = "[sealed reason does not open: run paycore audit verify]"


@dataclass(frozen=True, slots=True)
class Verified:
    head: ChainHead
    broken: ChainBreak | None


class AuditLog:
    """Thread-safe; one per process and database. The cipher seals every new record's
    reason (`reason_context(seq)`) and opens it for `list`; the chain is verified without
    it (the hash covers the token), so `cipher=None` is for verifying only: appending or
    opening then raises, never writes a clear reason."""

    def __init__(
        self, engine: Engine, clock: Clock | None = None, *, cipher: FieldCipher | None
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITER)
        self.clock = clock or SystemClock()
        self._cipher = cipher

    def append(self, conn: Connection, entry: AuditEntry) -> AuditRecord:
        """Chains `entry` in the caller's transaction (which commits it with its own work).
        The record returned is the one stored: its reason sealed, `entry.reason` None."""
        reason = entry.reason
        if reason is None:
            raise ValueError("an audit entry needs a reason")

        cipher = self._sealing()

        def seal(seq: int) -> str:
            return cipher.encrypt(reason, context=reason_context(seq))

        record = next_record(store_audit.lock_head(conn), entry, seal)
        store_audit.append(conn, record)
        return record

    def opened(self, record: AuditRecord) -> AuditRecord:
        """The record with its reason in clear, for whoever may read the log (a format-1
        record already holds it)."""
        if record.reason_enc is None:
            return record
        reason = self.open_reason(record.seq, record.reason_enc)
        return dataclasses.replace(record, entry=dataclasses.replace(record.entry, reason=reason))

    def shown(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A record read as columns (the data-subject export) with `reason` in clear in
        place of `reason_enc`."""
        shown = dict(row)
        sealed = shown.pop("reason_enc", None)
        if sealed is not None:
            shown["reason"] = self.open_reason(int(shown["seq"]), str(sealed))
        return shown

    def open_reason(self, seq: int, reason_enc: str) -> str:
        """A sealed reason in clear. One that does not open (moved to another seq, edited,
        its key lost) reads UNREADABLE_REASON, so one bad record hides no other from a
        reader; `paycore audit verify` names it."""
        try:
            return self._sealing().decrypt(reason_enc, context=reason_context(seq))
        except KeyStoreUnbound:
            raise
        except CipherError:
            log.warning("audit record %d: its sealed reason does not open", seq)
            return UNREADABLE_REASON

    def _sealing(self) -> FieldCipher:
        if self._cipher is None:
            raise KeyStoreUnbound("this audit log has no cipher: it can verify the chain only")
        return self._cipher

    def record(self, entry: AuditEntry) -> AuditRecord:
        with self.begin() as conn:
            return self.append(conn, entry)

    def begin(self) -> AbstractContextManager[Connection]:
        """A writing transaction for work that appends a record with its own."""
        return self._writer.begin()

    def verify(self, anchor: ChainHead | None = None) -> Verified:
        """Walks the whole chain in one snapshot, so appends made meanwhile do not count."""
        walk = ChainWalk(anchor)
        options = {"isolation_level": "REPEATABLE READ"} if self._is_postgres else {}
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            while walk.broken is None:
                records = store_audit.records_after(conn, walk.last.seq, limit=VERIFY_PAGE)
                walk.feed(records)
                if len(records) < VERIFY_PAGE:
                    break
            head = store_audit.head(conn)
        return Verified(head or walk.last, walk.finish(head))

    def list(
        self,
        *,
        since: datetime | None = None,
        actor_key_id: str | None = None,
        limit: int = LIST_PAGE_MAX,
    ) -> list[AuditRecord]:
        if not 1 <= limit <= LIST_PAGE_MAX:
            raise Rejected("invalid_limit", f"limit is 1-{LIST_PAGE_MAX}")
        with self._engine.connect() as conn:
            found = store_audit.page(conn, since=since, actor_key_id=actor_key_id, limit=limit)
        return [self.opened(record) for record in found]

    @property
    def _is_postgres(self) -> bool:
        return self._engine.dialect.name == "postgresql"
