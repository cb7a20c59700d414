"""The audit log's rules: what a record says, how it is chained, how a chain is checked.

Pure: no storage. Each record carries the hash of the one before it (`prev_hash`) and its
own `hash`, the SHA-256 of a canonical serialization of every field *including*
`prev_hash`; the first record follows GENESIS_HASH. Editing a record changes its hash,
removing or reordering records breaks the link of the next one, and removing the last ones
is seen against the chain head, which the store keeps with the seq and hash of the last
record. A writer able to recompute every later hash and the head defeats any chain kept
in the same database: publish the head (`paycore audit verify` prints it) somewhere else
and check it later with `--anchor` to close that door too.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from paycore.errors import Rejected
from paycore.security.masking import redact_personal_numbers

GENESIS_HASH = "0" * 64
REASON_LENGTH_MIN = 10
REASON_LENGTH_MAX = 500
FIELDS_MAX = 16
"""Field names one record may list (a payment order holds four)."""
LIST_PAGE_MAX = 1000


class AuditAction(enum.StrEnum):
    PII_REVEAL = "pii.reveal"
    H2H_FILE = "h2h.file"
    """A payout file for the bank (beneficiaries' names and accounts) handed to a person."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened, before it has a place in the chain."""

    at: datetime
    actor_key_id: str
    merchant_id: str | None
    """The merchant of the actor's key; None for a platform key."""
    action: str
    object_type: str
    object_id: str
    fields: tuple[str, ...]
    reason: str
    request_id: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place where the chain is not what was written."""

    seq: int
    problem: str


def check_reason(reason: str | None) -> str:
    """The reason as stored: 10-500 characters of text, personal numbers in it masked (a
    reason is read by auditors, and must not become a copy of what was revealed)."""
    text = (reason or "").strip()
    if not REASON_LENGTH_MIN <= len(text) <= REASON_LENGTH_MAX:
        raise Rejected(
            "reveal_reason_required",
            f"say why, in {REASON_LENGTH_MIN}-{REASON_LENGTH_MAX} characters (reason)",
        )
    return redact_personal_numbers(text)


def canonical(seq: int, entry: AuditEntry, prev_hash: str) -> bytes:
    """One byte string per record: sorted keys, no spaces, UTF-8, the instant in UTC to
    the microsecond (what both databases keep)."""
    document = {
        "seq": seq,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_key_id": entry.actor_key_id,
        "merchant_id": entry.merchant_id,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "fields": list(entry.fields),
        "reason": entry.reason,
        "request_id": entry.request_id,
        "prev_hash": prev_hash,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def record_hash(seq: int, entry: AuditEntry, prev_hash: str) -> str:
    return hashlib.sha256(canonical(seq, entry, prev_hash)).hexdigest()


def next_record(head: ChainHead, entry: AuditEntry) -> AuditRecord:
    seq = head.seq + 1
    return AuditRecord(seq, entry, head.hash, record_hash(seq, entry, head.hash))


class ChainWalk:
    """Checks records fed in seq order, a page at a time; `finish` compares with the head."""

    def __init__(self, anchor: ChainHead | None = None) -> None:
        self.last = ChainHead(0, GENESIS_HASH)
        self.broken: ChainBreak | None = None
        self._anchor = anchor

    def feed(self, records: Iterable[AuditRecord]) -> None:
        for record in records:
            if self.broken is not None:
                return
            self.broken = _check_link(self.last, record)
            if self.broken is None and self._anchor and record.seq == self._anchor.seq:
                self.broken = _check_anchor(self._anchor, record)
            self.last = ChainHead(record.seq, record.hash)

    def finish(self, head: ChainHead | None) -> ChainBreak | None:
        if self.broken is not None:
            return self.broken
        if self._anchor is not None and self._anchor.seq > self.last.seq:
            return ChainBreak(self.last.seq + 1, "missing: the chain ends before the anchor")
        head = head or ChainHead(0, GENESIS_HASH)
        if head.seq > self.last.seq:
            return ChainBreak(self.last.seq + 1, "missing: the chain ends before its head")
        if head != self.last:
            return ChainBreak(self.last.seq, "the chain head does not name the last record")
        return None


def _check_link(previous: ChainHead, record: AuditRecord) -> ChainBreak | None:
    expected = previous.seq + 1
    if record.seq != expected:
        return ChainBreak(expected, f"missing or out of order (found seq {record.seq} next)")
    if record.prev_hash != previous.hash:
        return ChainBreak(record.seq, "does not follow the record before it (removed or moved)")
    if record.hash != record_hash(record.seq, record.entry, record.prev_hash):
        return ChainBreak(record.seq, "its content does not match its hash (edited)")
    return None


def _check_anchor(anchor: ChainHead, record: AuditRecord) -> ChainBreak | None:
    if record.hash != anchor.hash:
        return ChainBreak(record.seq, "differs from the anchor (rewritten)")
    return None


def verify_chain(
    records: Sequence[AuditRecord], head: ChainHead | None, anchor: ChainHead | None = None
) -> ChainBreak | None:
    """The first break of a whole chain in memory, or None when it is intact."""
    walk = ChainWalk(anchor)
    walk.feed(records)
    return walk.finish(head)


def parse_anchor(text: str) -> ChainHead:
    """`<seq>:<hash>`, a head printed by an earlier `paycore audit verify`."""
    seq, _, digest = text.partition(":")
    if not (seq.isdigit() and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise Rejected("invalid_anchor", "an anchor is <seq>:<64 hex digits>")
    return ChainHead(int(seq), digest)
