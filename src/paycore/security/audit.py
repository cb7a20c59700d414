"""The audit log's rules: what a record says, how it is chained, how a chain is checked.

Pure: no storage. Each record carries the hash of the one before it (`prev_hash`) and its
own `hash`, the SHA-256 of a canonical serialization of every field *including*
`prev_hash`; the first record follows GENESIS_HASH. Editing a record changes its hash,
removing or reordering records breaks the link of the next one, and removing the last ones
is seen against the chain head, which the store keeps with the seq and hash of the last
record. A writer able to recompute every later hash and the head defeats any chain kept
in the same database: publish the head (`paycore audit verify` prints it) somewhere else
and check it later with `--anchor` to close that door too.

Two record formats (the `format` column; migration 0031). Format 1, written before 0031,
keeps the reason in clear and hashes it; those records are never rewritten (the log is
append-only) and verify as they always did. Format 2 keeps the reason sealed
(`reason_enc`, a FieldCipher token under the context `audit-reason:<seq>`) and hashes the
*token* plus `"format": 2`: the chain verifies without a key, an edited or swapped token
(even another valid one) breaks the hash, and a token moved to another seq no longer opens.
A record whose stored columns do not fit its format (a clear reason beside a sealed one, a
format-1 record given a token) is reported as edited.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
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
FORMAT_CLEAR = 1
"""Records before migration 0031: the reason in clear, hashed as text."""
FORMAT_SEALED = 2
"""From 0031 on: the reason sealed, the chain hashes its token."""


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
    reason: str | None
    """In clear; None for a sealed record read back and not opened (`reason_enc` holds it)."""
    request_id: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str
    record_format: int = FORMAT_CLEAR
    reason_enc: str | None = None
    """The sealed reason of a FORMAT_SEALED record, as stored (what the hash covers)."""


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


def reason_context(seq: int) -> str:
    """Binds a sealed reason to its place in the chain: copied to another record, or the
    record moved, it no longer opens."""
    return f"audit-reason:{seq}"


def canonical(
    seq: int,
    entry: AuditEntry,
    prev_hash: str,
    *,
    record_format: int = FORMAT_CLEAR,
    reason_enc: str | None = None,
) -> bytes:
    """One byte string per record: sorted keys, no spaces, UTF-8, the instant in UTC to
    the microsecond (what both databases keep). Format 1 is the document as it was before
    0031, byte for byte; format 2 names its format and holds the sealed token instead of
    the reason, so the two can never hash alike."""
    document: dict[str, object] = {
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
    if record_format != FORMAT_CLEAR:
        del document["reason"]
        document["format"] = record_format
        document["reason_enc"] = reason_enc
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def record_hash(
    seq: int,
    entry: AuditEntry,
    prev_hash: str,
    *,
    record_format: int = FORMAT_CLEAR,
    reason_enc: str | None = None,
) -> str:
    document = canonical(seq, entry, prev_hash, record_format=record_format, reason_enc=reason_enc)
    return hashlib.sha256(document).hexdigest()


def stored_hash(record: AuditRecord) -> str:
    """The hash a record's stored columns call for."""
    return record_hash(
        record.seq,
        record.entry,
        record.prev_hash,
        record_format=record.record_format,
        reason_enc=record.reason_enc,
    )


def next_record(
    head: ChainHead, entry: AuditEntry, seal: Callable[[int], str] | None = None
) -> AuditRecord:
    """The record after `head`, as it is stored. With `seal` (what the audit log always
    passes) the reason is sealed by `seal(seq)`, a token bound to the seq
    (`reason_context`), and the record holds only that token; without it, a format-1
    record as written before 0031 (the chain rules still verify those)."""
    seq = head.seq + 1
    if seal is None:
        return AuditRecord(seq, entry, head.hash, record_hash(seq, entry, head.hash))
    if entry.reason is None:
        raise ValueError("an audit entry to seal has no reason")
    token = seal(seq)
    stored = dataclasses.replace(entry, reason=None)
    digest = record_hash(seq, stored, head.hash, record_format=FORMAT_SEALED, reason_enc=token)
    return AuditRecord(seq, stored, head.hash, digest, FORMAT_SEALED, token)


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
    if not _fits_format(record):
        problem = f"its columns do not fit format {record.record_format} (edited)"
        return ChainBreak(record.seq, problem)
    if record.hash != stored_hash(record):
        return ChainBreak(record.seq, "its content does not match its hash (edited)")
    return None


def _fits_format(record: AuditRecord) -> bool:
    """As read from the store: format 1 holds a clear reason and no token, format 2 a
    token and no clear reason (a clear one beside it would be shown by nobody and hashed
    by nothing: an edit all the same)."""
    if record.record_format == FORMAT_CLEAR:
        return record.reason_enc is None and record.entry.reason is not None
    if record.record_format == FORMAT_SEALED:
        return record.reason_enc is not None and record.entry.reason is None
    return False


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
