"""Field encryption: AES-256-GCM per value, bound to where the value lives.

Three token formats, told apart by their first character (a key id never holds `$`, and
base64 never does):

- `<key id>:<b64>`: a static key from PAYCORE_FIELD_KEYS (or the development key file).
  Still written by a cipher that is not bound to a key store, and always readable.
- `$1$<dek id>$<b64>`: a data key (DEK) of the envelope (envelope.py), wrapped by a KEK
  of the key provider (keys.py) and stored in `security_data_keys`.
- `$2$<dek id>$<subject key id>$<b64>`: sealed under a data subject's own key, derived
  from that DEK and the subject's salt; `shred(subject)` makes it unreadable forever.

`<b64>` is base64(nonce || ciphertext || tag). The 12-byte nonce is random per value
(safe for well over 2^32 values per key; rotate long before). The *context* (e.g.
`<order id>:card_number`) is authenticated as associated data: a ciphertext copied into
another row or field no longer decrypts.

The error tree (CipherError and its subclasses) lives in keys.py and is re-exported here.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, Engine

from paycore.clock import Clock
from paycore.platform.config import Settings
from paycore.security.envelope import DataKey, Keyring, SubjectKey
from paycore.security.keyfiles import parse_keys, read_private_json, write_private_json
from paycore.security.keys import (
    KEK_FILE,
    CipherError,
    FieldKeysInvalid,
    FileKeyProvider,
    KeyProvider,
    KeyProviderError,
    KeyStoreUnbound,
    Pkcs11KeyProvider,
    SubjectErased,
    TamperedCiphertext,
    UnknownKeyId,
)

__all__ = [
    "CipherError",
    "FieldCipher",
    "FieldKeysInvalid",
    "KeyProviderError",
    "KeyStoreUnbound",
    "SubjectErased",
    "SubjectKey",
    "TamperedCiphertext",
    "UnknownKeyId",
    "key_provider",
    "load_field_cipher",
    "new_field_key",
    "token_key_id",
]

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
DEV_KEY_FILE = Path("keys") / "field-keys.json"
"""Under Settings.data_dir, when PAYCORE_FIELD_KEYS is empty."""
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_DEK = "$1$"
_SUBJECT = "$2$"


class FieldCipher:
    """Thread-safe: AESGCM objects are immutable, the keyring locks its caches.

    Built from static keys; with a key `provider` and once `bind(engine)` is called, new
    values go to the envelope's active DEK while static-key tokens still decrypt."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        active_key_id: str,
        *,
        provider: KeyProvider | None = None,
    ) -> None:
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
        self.provider = provider
        self._keyring: Keyring | None = None

    def __repr__(self) -> str:
        ring = self._keyring
        envelope = f", dek={ring.last_active_id!r}" if ring is not None else ""
        return f"FieldCipher(key_ids={sorted(self._aead)}, active={self.active_key_id!r}{envelope})"

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._aead)

    def bind(self, engine: Engine, *, clock: Clock | None = None) -> FieldCipher:
        """Use the envelope from now on: data keys in `engine`'s tables, wrapped by the
        provider's KEK (the first DEK, and KEK, are made on first bind). A cipher without a
        provider stays on its static keys (returned unchanged). Returns self."""
        if self.provider is not None and self._keyring is None:
            self._keyring = Keyring(engine, self.provider, clock=clock)
        return self

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            raise KeyStoreUnbound("this cipher is not bound to a key store (FieldCipher.bind)")
        return self._keyring

    @property
    def bound(self) -> bool:
        return self._keyring is not None

    def encrypt(self, plaintext: str, *, context: str, subject: str | None = None) -> str:
        ring = self._keyring
        if ring is None:
            if subject is not None:
                raise KeyStoreUnbound("subject keys need a cipher bound to a key store")
            return self._seal(
                self._aead[self.active_key_id], f"{self.active_key_id}:", plaintext, context
            )
        dek = ring.active()
        if subject is None:
            return self._seal(dek.aead, f"{_DEK}{dek.id}$", plaintext, context)
        key_id = ring.subject_key_id(subject)
        return self._seal(
            ring.subject_aead(dek, key_id), f"{_SUBJECT}{dek.id}${key_id}$", plaintext, context
        )

    @staticmethod
    def _seal(aead: AESGCM, prefix: str, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return prefix + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, *, context: str) -> str:
        if token.startswith("$"):
            aead, body = self._envelope_key(token)
        else:
            key_id, sep, body = token.partition(":")
            if not sep:
                raise TamperedCiphertext("not a field token: no key id")
            found = self._aead.get(key_id)
            if found is None:
                raise UnknownKeyId(f"no key {key_id!r}; known: {sorted(self._aead)}")
            aead = found
        return _open(aead, body, context)

    def _envelope_key(self, token: str) -> tuple[AESGCM, str]:
        parts = token.split("$")
        ring = self._keyring
        if ring is None:
            raise UnknownKeyId("an envelope token, and this cipher is not bound to a key store")
        if token.startswith(_DEK) and len(parts) == 4:
            return ring.dek(parts[2]).aead, parts[3]
        if token.startswith(_SUBJECT) and len(parts) == 5:
            return ring.subject_aead(ring.dek(parts[2]), parts[3]), parts[4]
        raise TamperedCiphertext("not a field token: unknown envelope format")

    def subject_key(self, subject: str) -> SubjectKey:
        """The subject's key without writing: cached, else read, else a new one that
        `claim_subject` writes in the caller's write transaction (envelope.py)."""
        return self.keyring.subject_key(subject)

    def encrypt_for(self, plaintext: str, *, context: str, key: SubjectKey) -> str:
        """Like `encrypt(subject=...)`, under a key from `subject_key`/`claim_subject`."""
        ring = self.keyring
        dek = ring.active()
        aead = ring.subject_key_aead(dek, key)
        return self._seal(aead, f"{_SUBJECT}{dek.id}${key.id}$", plaintext, context)

    def claim_subject(self, conn: Connection, key: SubjectKey) -> SubjectKey:
        """Write a new subject key in `conn`'s transaction; returns the key that holds (the
        one another transaction made first, if it did: seal again under it)."""
        return self.keyring.claim_subject(conn, key)

    def remember_subject(self, key: SubjectKey) -> None:
        """After the commit of `claim_subject`'s transaction: cache the key."""
        self.keyring.remember_subject(key)

    def ensure_subject(self, subject: str) -> str:
        """Create the subject's key now (its own transaction) so a later `encrypt` inside
        the caller's write transaction does not write; returns the subject key id."""
        return self.keyring.subject_key_id(subject)

    def shred(self, subject: str) -> bool:
        """Destroy the subject's key: every value sealed with `subject=` becomes unreadable
        (SubjectErased). False when the subject had no key."""
        return self.keyring.shred(subject)

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for another use (e.g. keyed hashes), derived from the active static
        key with HKDF-SHA256 so the field key itself is never used twice. Rotating the
        static key changes it; a DEK rotation does not (idempotency hashes and signed
        links must survive the routine DEK rotation)."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(self._active_key)

    def needs_rotation(self, token: str) -> bool:
        """Whether a stored value is under another key than the one new values get."""
        ring = self._keyring
        if ring is None:
            return token.partition(":")[0] != self.active_key_id
        return token_key_id(token) != ring.active().id

    def reencrypt(self, token: str, *, context: str) -> str:
        """The same value under the active key (for a re-encryption sweep after rotation);
        a subject's value stays under that subject's key."""
        if not self.needs_rotation(token):
            return token
        try:
            clear = self.decrypt(token, context=context)
        except SubjectErased:  # erased: nothing to move, and the sweep must not stop here
            return token
        ring = self._keyring
        if ring is None or not token.startswith(_SUBJECT):
            return self.encrypt(clear, context=context)
        dek: DataKey = ring.active()
        key_id = token.split("$")[3]
        prefix = f"{_SUBJECT}{dek.id}${key_id}$"
        return self._seal(ring.subject_aead(dek, key_id), prefix, clear, context)


def token_key_id(token: str) -> str:
    """The key a token is under: a DEK id, or a static key id."""
    if token.startswith("$"):
        parts = token.split("$")
        return parts[2] if len(parts) > 2 else ""
    return token.partition(":")[0]


def _open(aead: AESGCM, body: str, context: str) -> str:
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


def key_provider(settings: Settings) -> KeyProvider:
    """The KEK provider of PAYCORE_KEY_PROVIDER: `file` (default, development) or
    `pkcs11` (PAYCORE_PKCS11_LIBRARY, PAYCORE_PKCS11_TOKEN, PAYCORE_PKCS11_PIN)."""
    kind = settings.key_provider or "file"
    if kind == "file":
        return FileKeyProvider(Path(settings.data_dir) / KEK_FILE)
    if kind == "pkcs11":
        return Pkcs11KeyProvider(
            library=settings.pkcs11_library,
            token_label=settings.pkcs11_token,
            pin=settings.pkcs11_pin,
        )
    raise FieldKeysInvalid(f"PAYCORE_KEY_PROVIDER={kind!r}: expected file or pkcs11")


def load_field_cipher(settings: Settings) -> FieldCipher:
    """The cipher from PAYCORE_FIELD_KEYS / PAYCORE_FIELD_KEY_ID; without keys, a
    development key generated once under data_dir (logged as a warning). It carries the
    settings' key provider: `bind(engine)` switches new values to the envelope."""
    if settings.field_keys.strip():
        keys = parse_field_keys(settings.field_keys)
        active = settings.field_key_id or list(keys)[-1]
        return FieldCipher(keys, active, provider=key_provider(settings))
    path = Path(settings.data_dir) / DEV_KEY_FILE
    keys, active = _development_keys(path)
    log.warning(
        "PAYCORE_FIELD_KEYS is empty: personal data is encrypted with the development key in "
        "%s. Development only: in production give PAYCORE_FIELD_KEYS from a secret store.",
        path,
    )
    return FieldCipher(keys, settings.field_key_id or active, provider=key_provider(settings))


def parse_field_keys(text: str) -> dict[str, bytes]:
    """`kid:base64key,kid2:base64key` in order (the last is the default active key)."""
    return parse_keys(text, setting="PAYCORE_FIELD_KEYS", error=FieldKeysInvalid)


def new_field_key() -> str:
    """A fresh key, base64, for PAYCORE_FIELD_KEYS."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def _development_keys(path: Path) -> tuple[dict[str, bytes], str]:
    if not path.exists():
        write_private_json(path, {"active": "dev1", "keys": {"dev1": new_field_key()}})
    try:
        document = read_private_json(path)
        keys = {k: base64.b64decode(v, validate=True) for k, v in document["keys"].items()}
        return keys, str(document["active"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FieldKeysInvalid(f"{path} is not a field key file: {exc}") from None
