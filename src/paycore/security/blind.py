"""Blind index: find rows by a personal number without decrypting anything.

A token is `<key id>:<hex HMAC-SHA256(key, kind || 0x00 || normalized value)>`. The key is
the blind-index key, never a field key: knowing tokens must not help decrypt fields, and
rotating field keys must not change every token. The kind is inside the HMAC input, so a
phone number and a card number with the same digits never share a token.

Normalization makes the same person's number written two ways one token:

| kind | normalized |
|---|---|
| card_number | digits only (spaces, hyphens dropped), 12-19 digits |
| id_number | 18 characters, upper-case X (17 digits + digit or X) |
| phone | mainland mobile, 11 digits, without +86 / 0086, spaces, hyphens, brackets |
| account_number | letters and digits, upper-case, 4-34 characters |

Keys: `PAYCORE_BLIND_INDEX_KEY` is one base64 32-byte key (key id `b1`) or a list
`kid:base64,kid2:base64` whose last key writes new tokens. Rotation: add a key at the end;
lookups compute one token per configured key and match any, so old rows are still found;
`paycore security lookup backfill` then writes tokens under the new key for every row
(each row keeps its old tokens until the old key is removed; remove it only after the
backfill) and re-hashes in place the one token a custody sub-account keeps of its virtual
account (custody_subaccounts.virtual_account_hmac), which incoming money is matched by.
Without a key, a development key is made once under `<data dir>/keys/blind-index-key.json`
(0600) and a warning is logged at every start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

from paycore.errors import Rejected
from paycore.security.keyfiles import parse_keys, read_private_json, write_private_json

log = logging.getLogger(__name__)

BlindKind = Literal["card_number", "id_number", "phone", "account_number"]
KINDS: tuple[BlindKind, ...] = get_args(BlindKind)
KEY_BYTES = 32
DEFAULT_KEY_ID = "b1"
DEV_KEY_FILE = Path("keys") / "blind-index-key.json"
"""Under Settings.data_dir, when PAYCORE_BLIND_INDEX_KEY is empty."""

_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,16}")
_SEPARATORS = re.compile(r"[\s\-().]")
_CARD = re.compile(r"[0-9]{12,19}")
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")
_PHONE = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
_ACCOUNT = re.compile(r"[A-Z0-9]{4,34}")


class BlindKeyInvalid(ValueError):
    """The configured blind-index key is unusable (a start-up error)."""


def normalize(kind: BlindKind, value: str) -> str:
    """The canonical form of a number, or `invalid_lookup_value` when it is not one."""
    compact = _SEPARATORS.sub("", value).upper()
    pattern = {
        "card_number": _CARD,
        "id_number": _ID_NUMBER,
        "account_number": _ACCOUNT,
        "phone": _PHONE,
    }[kind]
    match = pattern.fullmatch(compact) if compact.isascii() else None
    if match is None:
        # Never quote the value: it is the personal number itself.
        raise Rejected("invalid_lookup_value", f"not a valid {kind}")
    return match.group(1) if kind == "phone" else compact


def normalize_or_none(kind: BlindKind, value: str | None) -> str | None:
    """For the write path: a stored value that is not a well-formed number (an empty
    phone, a foreign mobile) is simply not indexed."""
    if not value:
        return None
    try:
        return normalize(kind, value)
    except Rejected:
        return None


class BlindIndexer:
    """Computes tokens. Thread-safe (immutable)."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise BlindKeyInvalid(f"key id {key_id!r}: 1-16 of A-Z a-z 0-9 _ . -")
            if len(key) != KEY_BYTES:
                raise BlindKeyInvalid(f"key {key_id!r} has {len(key)} bytes, not {KEY_BYTES}")
        if active_key_id not in keys:
            raise BlindKeyInvalid(f"the active key id {active_key_id!r} is not among the keys")
        self._keys = {key_id: bytes(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    def __repr__(self) -> str:
        return f"BlindIndexer(key_ids={sorted(self._keys)}, active={self.active_key_id!r})"

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every configured key id, in order (the active one last unless chosen)."""
        return tuple(self._keys)

    def rotated(self, key_id: str, key: bytes) -> BlindIndexer:
        """The first step of a rotation: `key` added and writing new tokens, the others
        still looked up."""
        if key_id in self._keys:
            raise BlindKeyInvalid(f"key id {key_id!r} is in use already")
        return BlindIndexer({**self._keys, key_id: key}, key_id)

    def retired(self, key_id: str) -> BlindIndexer:
        """The last step, once `paycore security lookup backfill` ran under the new key:
        `key_id` no longer looked up (tokens under it are dead weight from then on)."""
        if key_id == self.active_key_id:
            raise BlindKeyInvalid(f"key id {key_id!r} writes new tokens: not retired")
        return BlindIndexer(
            {k: v for k, v in self._keys.items() if k != key_id}, self.active_key_id
        )

    def token(self, kind: BlindKind, normalized: str) -> str:
        """The token new rows are written with (active key), of a normalized value."""
        return self._token(self.active_key_id, kind, normalized)

    def lookup_tokens(self, kind: BlindKind, value: str) -> list[str]:
        """One token per configured key, of a value as a person typed it."""
        normalized = normalize(kind, value)
        return [self._token(key_id, kind, normalized) for key_id in self._keys]

    def _token(self, key_id: str, kind: BlindKind, normalized: str) -> str:
        message = kind.encode("ascii") + b"\x00" + normalized.encode("ascii")
        digest = hmac.new(self._keys[key_id], message, hashlib.sha256).hexdigest()
        return f"{key_id}:{digest}"


def load_blind_indexer(key_text: str, data_dir: Path) -> BlindIndexer:
    """From PAYCORE_BLIND_INDEX_KEY, else the development key under data_dir (warned)."""
    if key_text.strip():
        keys = parse_blind_keys(key_text)
        return BlindIndexer(keys, list(keys)[-1])
    path = data_dir / DEV_KEY_FILE
    keys = _development_keys(path)
    log.warning(
        "PAYCORE_BLIND_INDEX_KEY is empty: the blind index uses the development key in %s. "
        "Development only: in production give PAYCORE_BLIND_INDEX_KEY from a secret store.",
        path,
    )
    return BlindIndexer(keys, list(keys)[-1])


def parse_blind_keys(text: str) -> dict[str, bytes]:
    """`base64key` (key id b1) or `kid:base64key,kid2:base64key` (the last is active)."""
    items = [part.strip() for part in text.split(",") if part.strip()]
    if len(items) == 1 and ":" not in items[0]:
        items = [f"{DEFAULT_KEY_ID}:{items[0]}"]
    return parse_keys(",".join(items), setting="PAYCORE_BLIND_INDEX_KEY", error=BlindKeyInvalid)


def new_blind_key() -> str:
    """A fresh key, base64, for PAYCORE_BLIND_INDEX_KEY."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def _development_keys(path: Path) -> dict[str, bytes]:
    if not path.exists():
        write_private_json(path, {"keys": {DEFAULT_KEY_ID: new_blind_key()}})
    try:
        document = read_private_json(path)
        return {k: base64.b64decode(v, validate=True) for k, v in document["keys"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BlindKeyInvalid(f"{path} is not a blind-index key file: {exc}") from None
