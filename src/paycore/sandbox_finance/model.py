"""The sandbox finance system's rules: what a voucher document must hold, its body hash,
the HMAC over a request, and the failure mix. Pure: no SQL, no HTTP.

A voucher document is the JSON object paycore pushes: `id, business_date, currency,
voucher_type, summary, lines[{line_no, gl_account, ledger_code, debit_minor,
credit_minor}], body_hash`, and any further fields its sender includes (paycore sends
`debit_total_minor, credit_total_minor, transfer_count` too). `body_hash` is the
SHA-256 of the canonical JSON of every other field (keys sorted, no spaces, UTF-8), so a
field the receiver does not read is still covered by the hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from paycore.errors import Rejected

DEFAULT_PORT = 8300
DEFAULT_DATA_DIR = "var/sandbox-finance"
DEFAULT_KEY_ID = "paycore"
SECRET_FILE = "push_secret"
DATABASE_FILE = "finance.db"

BODY_BYTES_MAX = 256 * 1024
LINES_MAX = 1000
"""Lines on one voucher: a day's group summarizes per account, never per transfer."""
SIGNATURE_SKEW_S_MAX = 300
LIST_MAX = 100_000
"""Vouchers listed for one business day (GET /vouchers)."""

KEY_ID_HEADER = "X-Finance-Key-Id"
TIMESTAMP_HEADER = "X-Finance-Timestamp"
SIGNATURE_HEADER = "X-Finance-Signature"

# Codes answered as {"error": code, "message": ...}.
INVALID_VOUCHER = "invalid_voucher"
VOUCHER_UNBALANCED = "voucher_unbalanced"
BODY_HASH_MISMATCH = "body_hash_mismatch"
VOUCHER_CONFLICT = "voucher_conflict"
BAD_SIGNATURE = "bad_signature"
STALE_SIGNATURE = "stale_signature"
UNKNOWN_KEY = "unknown_key"
RECEIVER_DOWN = "receiver_down"
FAILED_AFTER_STORE = "failed_after_store"


class Result(StrEnum):
    """What the receiver did with one POST /vouchers."""

    BOOKED = "booked"
    DUPLICATE = "duplicate"  # the same id with the same body: booked before, not again
    CONFLICT = "conflict"  # the same id with another body: refused (409)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def body_hash_of(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the document without its `body_hash`."""
    body = {key: value for key, value in document.items() if key != "body_hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def signature_of(secret: bytes, *, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 (hex) over `<timestamp>.<body>`: the timestamp is signed so an old
    request cannot be replayed with a fresh one."""
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def check_signature(
    secret: bytes, *, timestamp: str, body: bytes, signature: str, now_s: float
) -> None:
    """Raises Rejected(bad_signature|stale_signature) unless the request is ours and recent."""
    try:
        signed_s = int(timestamp)
    except ValueError as exc:
        raise Rejected(BAD_SIGNATURE, "the timestamp is not an integer") from exc
    expected = signature_of(secret, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected, signature):
        raise Rejected(BAD_SIGNATURE, "the signature does not match the body")
    if abs(now_s - signed_s) > SIGNATURE_SKEW_S_MAX:
        raise Rejected(STALE_SIGNATURE, f"signed more than {SIGNATURE_SKEW_S_MAX} s from now")


@dataclass(frozen=True, slots=True)
class Line:
    line_no: int
    gl_account: str
    ledger_code: int
    debit_minor: int
    credit_minor: int


@dataclass(frozen=True, slots=True)
class Voucher:
    voucher_id: str
    business_date: date
    currency: str
    voucher_type: str
    summary: str
    lines: tuple[Line, ...]
    body_hash: str

    @property
    def debit_total_minor(self) -> int:
        return sum(line.debit_minor for line in self.lines)


def _text(document: Mapping[str, Any], name: str, length_max: int) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= length_max:
        raise Rejected(INVALID_VOUCHER, f"{name} must be a string of 1..{length_max} characters")
    return value


def _count(line: Mapping[str, Any], name: str) -> int:
    value = line.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise Rejected(INVALID_VOUCHER, f"line {name} must be an integer >= 0")
    return value


def _line(value: Any) -> Line:
    if not isinstance(value, dict):
        raise Rejected(INVALID_VOUCHER, "each line must be an object")
    return Line(
        line_no=_count(value, "line_no"),
        gl_account=_text(value, "gl_account", 32),
        ledger_code=_count(value, "ledger_code"),
        debit_minor=_count(value, "debit_minor"),
        credit_minor=_count(value, "credit_minor"),
    )


def voucher_of(document: Any) -> Voucher:
    """The voucher a document describes; Rejected(invalid_voucher | voucher_unbalanced |
    body_hash_mismatch) when it is malformed, does not balance, or its hash is wrong."""
    if not isinstance(document, dict):
        raise Rejected(INVALID_VOUCHER, "the body must be a JSON object")
    try:
        business_date = date.fromisoformat(_text(document, "business_date", 10))
    except ValueError as exc:
        raise Rejected(INVALID_VOUCHER, "business_date must be YYYY-MM-DD") from exc
    currency = _text(document, "currency", 3)
    raw_lines = document.get("lines")
    if not isinstance(raw_lines, list) or not 0 < len(raw_lines) <= LINES_MAX:
        raise Rejected(INVALID_VOUCHER, f"lines must be a list of 1..{LINES_MAX}")
    voucher = Voucher(
        voucher_id=_text(document, "id", 64),
        business_date=business_date,
        currency=currency if currency.isalpha() and currency.isupper() else "",
        voucher_type=_text(document, "voucher_type", 32),
        summary=_text(document, "summary", 256),
        lines=tuple(_line(line) for line in raw_lines),
        body_hash=_text(document, "body_hash", 64),
    )
    if not voucher.currency:
        raise Rejected(INVALID_VOUCHER, "currency must be an ISO 4217 code")
    credit_total = sum(line.credit_minor for line in voucher.lines)
    if voucher.debit_total_minor != credit_total or credit_total == 0:
        raise Rejected(
            VOUCHER_UNBALANCED,
            f"debits {voucher.debit_total_minor} and credits {credit_total} must be equal and > 0",
        )
    if body_hash_of(document) != voucher.body_hash:
        raise Rejected(BODY_HASH_MISMATCH, "body_hash is not the SHA-256 of the canonical body")
    return voucher


@dataclass(frozen=True, slots=True)
class FaultMix:
    """How the receiver misbehaves; changeable at runtime (PUT /admin/faults).

    Each `*_rate` is the probability, per POST /vouchers, of that fault (1.0: always; the
    mode is "on"). Drawn in this order, at most one fault a request: down (503, nothing
    booked), fail_after_store (booked, then 500), double_ack (booked, acknowledged twice);
    then, independently, slow (the answer is held `slow_ms` after booking).
    """

    down_rate: float = 0.0
    fail_after_store_rate: float = 0.0
    double_ack_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: int = 2000

    def __post_init__(self) -> None:
        rates = [
            getattr(self, f.name) for f in dataclasses.fields(self) if f.name.endswith("_rate")
        ]
        if any(not math.isfinite(rate) or not 0 <= rate <= 1 for rate in rates):
            raise Rejected(INVALID_VOUCHER, "every rate must be a number in [0, 1]")
        if self.down_rate + self.fail_after_store_rate + self.double_ack_rate > 1:
            raise Rejected(INVALID_VOUCHER, "down, fail_after_store and double_ack rates exceed 1")
        if not 0 <= self.slow_ms <= 600_000:
            raise Rejected(INVALID_VOUCHER, "slow_ms must be in 0..600000")

    def updated(self, changes: Mapping[str, Any]) -> FaultMix:
        """This mix with `changes` applied; unknown fields or wrong types are Rejected."""
        known = {f.name for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise Rejected(INVALID_VOUCHER, f"unknown fault setting {name!r}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Rejected(INVALID_VOUCHER, f"{name} must be a number")
            if name == "slow_ms" and not isinstance(value, int):
                raise Rejected(INVALID_VOUCHER, "slow_ms must be an integer")
        typed: dict[str, Any] = {k: v if k == "slow_ms" else float(v) for k, v in changes.items()}
        return dataclasses.replace(self, **typed)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Fault(StrEnum):
    NONE = "none"
    DOWN = "down"
    FAIL_AFTER_STORE = "fail_after_store"
    DOUBLE_ACK = "double_ack"


def draw_fault(mix: FaultMix, rng: random.Random) -> tuple[Fault, bool]:
    """The fault for one request, and whether it is slow."""
    u = rng.random()
    fault = Fault.NONE
    for rate, kind in (
        (mix.down_rate, Fault.DOWN),
        (mix.fail_after_store_rate, Fault.FAIL_AFTER_STORE),
        (mix.double_ack_rate, Fault.DOUBLE_ACK),
    ):
        if u < rate:
            fault = kind
            break
        u -= rate
    return fault, rng.random() < mix.slow_rate
