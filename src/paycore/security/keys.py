"""Key-encryption keys (KEKs) behind one interface, and the cipher's error tree.

A `KeyProvider` holds KEKs and wraps/unwraps data keys (DEKs) under a named KEK; the
clear KEK never reaches paycore when the provider is a token. Two providers:

- `FileKeyProvider`: KEKs in `<data dir>/keys/kek.json` (mode 0600), for development.
- `Pkcs11KeyProvider`: non-extractable AES-256 keys on a PKCS#11 token (SoftHSM2 in CI,
  an HSM in production). Wrapping is AES-256-GCM done *by the token* (C_Encrypt): SoftHSM2
  refuses CKM_AES_KEY_WRAP(_PAD) through C_Encrypt, and C_WrapKey would need each DEK
  imported as a token object first. The DEK id and KEK id are the associated data, so a
  wrapped key copied onto another row does not unwrap.

KEK ids are time-ordered (`kek_<ULID>`): the active KEK is the newest one.

CipherError
 ├── UnknownKeyId        the token names a key this process was not given
 ├── TamperedCiphertext  wrong context, altered bytes, or a token cut short
 ├── FieldKeysInvalid    the configured keys are unusable (start-up error)
 ├── SubjectErased       the value belonged to a data subject whose key was destroyed
 ├── KeyStoreUnbound     a subject key or a data key was asked of a cipher with no store
 └── KeyProviderError    the provider failed or refused (no such KEK, token error)
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paycore.errors import PaycoreError
from paycore.ids import new_id
from paycore.security.keyfiles import write_private_json

KEK_FILE = Path("keys") / "kek.json"
"""Under Settings.data_dir, for the file provider."""
PKCS11_LABEL_PREFIX = "paycore-"
WRAP_NONCE_BYTES = 12


class CipherError(PaycoreError):
    """A value could not be encrypted or decrypted."""


class UnknownKeyId(CipherError):
    pass


class TamperedCiphertext(CipherError):
    pass


class FieldKeysInvalid(CipherError):
    pass


class SubjectErased(CipherError):
    """The subject's key was destroyed (crypto-shredding): the value is gone for good."""


class KeyStoreUnbound(CipherError):
    pass


class KeyProviderError(CipherError):
    pass


class KeyProvider(Protocol):
    """Where KEKs live. Implementations are thread-safe."""

    name: str

    def active_kek_id(self) -> str:
        """The newest KEK; creates the first one when there is none."""
        ...

    def kek_ids(self) -> list[str]: ...

    def create_kek(self) -> str:
        """A new KEK, which becomes the active one; returns its id."""
        ...

    def destroy_kek(self, kek_id: str) -> None:
        """Destroy a KEK for good (after every DEK was rewrapped under a newer one)."""
        ...

    def wrap(self, dek: bytes, *, kek_id: str, label: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, kek_id: str, label: str) -> bytes: ...


def new_kek_id() -> str:
    return new_id("kek")


def _aad(kek_id: str, label: str) -> bytes:
    return f"paycore-dek:{kek_id}:{label}".encode()


class FileKeyProvider:
    """KEKs in a JSON file readable by its owner only. Development: the KEK sits on the
    same disk as the database it protects."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, bytes]:
        if not self._path.exists():
            return {}
        try:
            document = json.loads(self._path.read_text())
            return {k: base64.b64decode(v) for k, v in document["keks"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyProviderError(f"{self._path} is not a KEK file: {exc}") from None

    def _save(self, keks: dict[str, bytes]) -> None:
        document = {"keks": {k: base64.b64encode(v).decode() for k, v in keks.items()}}
        write_private_json(self._path, document, replace=True)

    def kek_ids(self) -> list[str]:
        return sorted(self._load())

    def active_kek_id(self) -> str:
        ids = self.kek_ids()
        return ids[-1] if ids else self.create_kek()

    def create_kek(self) -> str:
        with self._lock:
            keks = self._load()
            kek_id = new_kek_id()
            keks[kek_id] = AESGCM.generate_key(bit_length=256)
            self._save(keks)
            return kek_id

    def destroy_kek(self, kek_id: str) -> None:
        with self._lock:
            keks = self._load()
            keks.pop(kek_id, None)
            self._save(keks)

    def _kek(self, kek_id: str) -> AESGCM:
        key = self._load().get(kek_id)
        if key is None:
            raise KeyProviderError(f"no KEK {kek_id!r} in {self._path}")
        return AESGCM(key)

    def wrap(self, dek: bytes, *, kek_id: str, label: str) -> bytes:
        nonce = os.urandom(WRAP_NONCE_BYTES)
        return nonce + self._kek(kek_id).encrypt(nonce, dek, _aad(kek_id, label))

    def unwrap(self, wrapped: bytes, *, kek_id: str, label: str) -> bytes:
        nonce, body = wrapped[:WRAP_NONCE_BYTES], wrapped[WRAP_NONCE_BYTES:]
        try:
            return self._kek(kek_id).decrypt(nonce, body, _aad(kek_id, label))
        except InvalidTag:
            raise KeyProviderError(f"data key {label!r} does not unwrap under {kek_id}") from None


class Pkcs11KeyProvider:
    """KEKs as non-extractable, sensitive AES-256 secret keys on a PKCS#11 token, labelled
    `paycore-<kek id>`. One session per provider, serialised by a lock: the token is only
    called when a DEK is created, rotated or first used by a process."""

    name = "pkcs11"

    def __init__(self, *, library: str, token_label: str, pin: str) -> None:
        import pkcs11  # a token is optional: only this provider needs the binding

        try:
            token = pkcs11.lib(library).get_token(token_label=token_label)
            try:
                self._session: Any = token.open(user_pin=pin, rw=True)
            except pkcs11.UserAlreadyLoggedIn:
                # PKCS#11 logs in the whole process: a second session shares the login.
                self._session = token.open(rw=True)
        except (pkcs11.PKCS11Error, RuntimeError) as exc:
            raise KeyProviderError(
                f"PKCS#11 token {token_label!r} in {library}: {type(exc).__name__}"
            ) from None
        self._pkcs11: Any = pkcs11
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._session.close()

    def kek_ids(self) -> list[str]:
        p = self._pkcs11
        with self._lock:
            found = self._session.get_objects({p.Attribute.CLASS: p.ObjectClass.SECRET_KEY})
            labels = [str(obj.label) for obj in found]
        return sorted(x.removeprefix(PKCS11_LABEL_PREFIX) for x in labels if _is_kek(x))

    def active_kek_id(self) -> str:
        ids = self.kek_ids()
        return ids[-1] if ids else self.create_kek()

    def create_kek(self) -> str:
        p = self._pkcs11
        kek_id = new_kek_id()
        template = {
            p.Attribute.EXTRACTABLE: False,
            p.Attribute.SENSITIVE: True,
            p.Attribute.ENCRYPT: True,
            p.Attribute.DECRYPT: True,
        }
        with self._lock:
            self._session.generate_key(
                p.KeyType.AES,
                256,
                label=PKCS11_LABEL_PREFIX + kek_id,
                store=True,
                template=template,
            )
        return kek_id

    def destroy_kek(self, kek_id: str) -> None:
        p = self._pkcs11
        with self._lock:
            for obj in self._session.get_objects({p.Attribute.LABEL: PKCS11_LABEL_PREFIX + kek_id}):
                obj.destroy()

    def _call(self, operation: str, data: bytes, *, kek_id: str, nonce: bytes, aad: bytes) -> bytes:
        p = self._pkcs11
        params = p.mechanisms.GCMParams(nonce, aad, 128)
        with self._lock:
            try:
                key = self._session.get_key(
                    object_class=p.ObjectClass.SECRET_KEY, label=PKCS11_LABEL_PREFIX + kek_id
                )
                method = key.encrypt if operation == "wrap" else key.decrypt
                return bytes(method(data, mechanism=p.Mechanism.AES_GCM, mechanism_param=params))
            except p.NoSuchKey:
                raise KeyProviderError(f"no KEK {kek_id!r} on the token") from None
            except p.PKCS11Error as exc:
                raise KeyProviderError(
                    f"{operation} under {kek_id}: {type(exc).__name__}"
                ) from None

    def wrap(self, dek: bytes, *, kek_id: str, label: str) -> bytes:
        nonce = os.urandom(WRAP_NONCE_BYTES)
        return nonce + self._call("wrap", dek, kek_id=kek_id, nonce=nonce, aad=_aad(kek_id, label))

    def unwrap(self, wrapped: bytes, *, kek_id: str, label: str) -> bytes:
        nonce, body = wrapped[:WRAP_NONCE_BYTES], wrapped[WRAP_NONCE_BYTES:]
        return self._call("unwrap", body, kek_id=kek_id, nonce=nonce, aad=_aad(kek_id, label))


def _is_kek(label: str) -> bool:
    return label.startswith(PKCS11_LABEL_PREFIX + "kek_")
