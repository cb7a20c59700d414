"""API keys and who a request acts for: pure rules, no storage.

A key is `pk_<key_id>_<secret>`. The key id is public (it names the key in lists, logs and
`revoke`); the secret is 32 random bytes in lowercase base32 and is only ever stored as its
SHA-256. A key belongs to a merchant (it sees only that merchant's objects) or, with no
merchant, to the platform.
"""

from __future__ import annotations

import base64
import enum
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from paycore.errors import Rejected

KEY_PREFIX = "pk_"
SECRET_BYTES = 32
SECRET_LENGTH = 52
"""Characters of a secret: 32 bytes in base32 without padding."""
PRESENTED_KEY_LENGTH_MAX = 200
LABEL_LENGTH_MAX = 200


class Scope(enum.StrEnum):
    PAYMENTS_READ = "payments:read"
    PAYMENTS_WRITE = "payments:write"
    PAYOUTS_WRITE = "payouts:write"
    REFUNDS_WRITE = "refunds:write"
    LEDGER_READ = "ledger:read"
    LEDGER_WRITE = "ledger:write"
    ADMIN = "admin"
    """Everything but the scopes of EXPLICIT_SCOPES, including managing merchants and keys.
    Platform keys only."""
    PII_REVEAL = "pii:reveal"
    """See the clear personal data of an object the key sees (with a reason, audited)."""


EXPLICIT_SCOPES = frozenset({Scope.PII_REVEAL})
"""Scopes `admin` does not imply: a key has them only if they are named when it is issued.
Seeing a payer's clear card or ID number is a grant of its own under JR/T 0171 (least
privilege, separation of duties): the operator who runs the platform with an admin key is
not thereby entitled to read personal data, and a leaked admin key does not leak it."""


DEFAULT_MERCHANT_SCOPES = frozenset(
    {Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE, Scope.PAYOUTS_WRITE, Scope.REFUNDS_WRITE}
)
"""What a merchant key gets unless told otherwise: its own orders, not the ledger."""


class Unauthenticated(Rejected):
    """No key, a malformed key, an unknown key, a wrong secret or a revoked key: all alike,
    so a caller learns nothing about which."""

    def __init__(self, detail: str = "a valid API key is required") -> None:
        super().__init__("unauthenticated", detail)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for."""

    key_id: str
    merchant_id: str | None
    """None: a platform key, which sees every merchant's objects."""
    scopes: frozenset[str]

    def can(self, scope: str) -> bool:
        if scope in self.scopes:
            return True
        return Scope.ADMIN in self.scopes and scope not in EXPLICIT_SCOPES

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def sees(self, owner_id: str | None) -> bool:
        """Whether an object owned by `owner_id` exists for this principal at all."""
        return self.merchant_id is None or owner_id == self.merchant_id


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What is stored about a key; never its secret."""

    id: str
    merchant_id: str | None
    scopes: frozenset[str]
    label: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def principal(self) -> Principal:
        return Principal(key_id=self.id, merchant_id=self.merchant_id, scopes=self.scopes)


def parse_scopes(names: Iterable[str]) -> frozenset[str]:
    known = {s.value for s in Scope}
    scopes = frozenset(names)
    for name in sorted(scopes):
        if name not in known:
            raise Rejected("unknown_scope", f"{name!r} is not one of {sorted(known)}")
    return scopes


def scopes_for_new_key(merchant_id: str | None, names: Iterable[str] | None) -> frozenset[str]:
    """The scopes a new key gets: merchant keys default to DEFAULT_MERCHANT_SCOPES; platform
    keys must name theirs; `admin` is for platform keys only."""
    if names is None:
        if merchant_id is None:
            raise Rejected("scopes_required", "a platform key needs at least one scope")
        return DEFAULT_MERCHANT_SCOPES
    scopes = parse_scopes(names)
    if not scopes:
        raise Rejected("scopes_required", "a key needs at least one scope")
    if merchant_id is not None and Scope.ADMIN in scopes:
        raise Rejected("admin_scope_needs_platform_key", "only a key without merchant is admin")
    return scopes


def check_label(label: str) -> str:
    if len(label) > LABEL_LENGTH_MAX:
        raise Rejected("label_too_long", f"at most {LABEL_LENGTH_MAX} characters")
    return label


def new_secret() -> str:
    raw = secrets.token_bytes(SECRET_BYTES)  # pragma: no mutate: equivalent, None is 32 bytes too
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def format_key(key_id: str, secret: str) -> str:
    return f"{KEY_PREFIX}{key_id}_{secret}"


def split_key(presented: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None. The key id may hold underscores
    (`key_01J...`); the secret, base32, never does."""
    if len(presented) > PRESENTED_KEY_LENGTH_MAX or not presented.startswith(KEY_PREFIX):
        return None
    head, _, secret = presented.rpartition("_")
    key_id = head[len(KEY_PREFIX) :]
    if not key_id or len(secret) != SECRET_LENGTH or not (secret.isascii() and secret.isalnum()):
        return None
    return key_id, secret
