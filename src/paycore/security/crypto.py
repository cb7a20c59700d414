"""Field encryption: AES-256-GCM per value, bound to where the value lives.

A token is `<key id>:<base64(nonce || ciphertext || tag)>`. The 12-byte nonce is random
per value (safe for well over 2^32 values per key; rotate keys long before). The
*context* (e.g. `payin:pay_123:card_number`) is authenticated as associated data: a
ciphertext copied into another row or field no longer decrypts. The key id travels with
the token, so after a rotation old values still decrypt with their old key while new
values use the active one.

CipherError
 ├── UnknownKeyId        the token names a key this process was not given
 ├── TamperedCiphertext  wrong context, altered bytes, or a token cut short
 └── FieldKeysInvalid    the configured keys are unusable (start-up error)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from paycore.errors import PaycoreError
from paycore.platform.config import Settings

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
DEV_KEY_FILE = Path("keys") / "field-keys.json"
"""Under Settings.data_dir, when PAYCORE_FIELD_KEYS is empty."""
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class CipherError(PaycoreError):
    """A value could not be encrypted or decrypted."""


class UnknownKeyId(CipherError):
    pass


class TamperedCiphertext(CipherError):
    pass


class FieldKeysInvalid(CipherError):
    pass


class FieldCipher:
    """Thread-safe: AESGCM objects are immutable."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise FieldKeysInvalid(f"key id {key_id!r}: 1-32 of A-Z a-z 0-9 _ . -")
            if len(key) != KEY_BYTES:
                raise FieldKeysInvalid(f"key {key_id!r} has {len(key)} bytes, not {KEY_BYTES}")
        if active_key_id not in keys:
            raise FieldKeysInvalid(f"the active key id {active_key_id!r} is not among the keys")
        self._aead = {key_id: AESGCM(bytes(key)) for key_id, key in keys.items()}
        self._active_key = bytes(keys[active_key_id])
        self.active_key_id = active_key_id

    def __repr__(self) -> str:
        return f"FieldCipher(key_ids={sorted(self._aead)}, active={self.active_key_id!r})"

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._aead)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.active_key_id].encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        return f"{self.active_key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, token: str, *, context: str) -> str:
        key_id, sep, body = token.partition(":")
        if not sep:
            raise TamperedCiphertext("not a field token: no key id")
        aead = self._aead.get(key_id)
        if aead is None:
            raise UnknownKeyId(f"no key {key_id!r}; known: {sorted(self._aead)}")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise TamperedCiphertext("the token is not valid base64") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise TamperedCiphertext("the token is too short")
        try:
            clear = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except InvalidTag:
            raise TamperedCiphertext(
                f"the value was altered or belongs to another context than {context!r}"
            ) from None
        return clear.decode("utf-8")

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for another use (e.g. keyed hashes), derived from the active key
        with HKDF-SHA256 so the field key itself is never used twice. Rotating the active
        key changes it too."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(self._active_key)

    def needs_rotation(self, token: str) -> bool:
        """Whether a stored value was encrypted with a key other than the active one."""
        return token.partition(":")[0] != self.active_key_id

    def reencrypt(self, token: str, *, context: str) -> str:
        """The same value under the active key (for a re-encryption sweep after rotation)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)


def load_field_cipher(settings: Settings) -> FieldCipher:
    """The cipher from PAYCORE_FIELD_KEYS / PAYCORE_FIELD_KEY_ID; without keys, a
    development key generated once under data_dir (logged as a warning)."""
    if settings.field_keys.strip():
        keys = parse_field_keys(settings.field_keys)
        active = settings.field_key_id or list(keys)[-1]
        return FieldCipher(keys, active)
    path = Path(settings.data_dir) / DEV_KEY_FILE
    keys, active = _development_keys(path)
    log.warning(
        "PAYCORE_FIELD_KEYS is empty: personal data is encrypted with the development key in "
        "%s. Development only: in production give PAYCORE_FIELD_KEYS from a secret store.",
        path,
    )
    return FieldCipher(keys, settings.field_key_id or active)


def parse_field_keys(text: str) -> dict[str, bytes]:
    """`kid:base64key,kid2:base64key` in order (the last is the default active key)."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep:
            raise FieldKeysInvalid(f"{key_id[:8]!r}...: expected kid:base64key")
        try:
            keys[key_id.strip()] = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise FieldKeysInvalid(f"key {key_id.strip()!r} is not valid base64") from None
    if not keys:
        raise FieldKeysInvalid("PAYCORE_FIELD_KEYS names no key")
    return keys


def new_field_key() -> str:
    """A fresh key, base64, for PAYCORE_FIELD_KEYS."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def _development_keys(path: Path) -> tuple[dict[str, bytes], str]:
    if not path.exists():
        _create_private_file(path, {"active": "dev1", "keys": {"dev1": new_field_key()}})
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s is readable by others (mode %o); chmod 600 it", path, mode)
    try:
        document = json.loads(path.read_text())
        keys = {k: base64.b64decode(v, validate=True) for k, v in document["keys"].items()}
        return keys, str(document["active"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FieldKeysInvalid(f"{path} is not a field key file: {exc}") from None


def _create_private_file(path: Path, document: dict[str, object]) -> None:
    """Write the file readable by its owner only, atomically: when several server workers
    start at once, exactly one file wins and every worker reads that one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process got there first
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
