"""Ed25519 signatures on requests, responses and callbacks between paycore and a channel.

Who signs what, and who verifies with which public key:

| message               | signed with             | X-Key-Id         | verified by           |
|-----------------------|-------------------------|------------------|-----------------------|
| request to the bank   | merchant's private key  | the merchant id  | bank, merchant's key  |
| the bank's response   | bank's private key      | the bank key id  | paycore, bank's key   |
| the bank's callback   | bank's private key      | the bank key id  | paycore, bank's key   |

The signed text is five lines joined by "\\n", UTF-8:

    <verb>        request: the HTTP method (POST, GET); response: "RESPONSE <status>";
                  callback: "NOTIFY"
    <path>        request and response: the request path as sent, percent-encoded, no query;
                  callback: empty (the receiver's own URL is not the bank's business)
    <timestamp>   unix seconds, the X-Timestamp header
    <nonce>       the X-Nonce header: fresh for every request and every callback delivery;
                  a response repeats its request's nonce, binding it to that request
    <body hash>   lowercase hex SHA-256 of the body bytes (of b"" when there is none)

X-Signature carries the base64 of the 64-byte Ed25519 signature. A timestamp more than
REPLAY_WINDOW_S seconds away from the verifier's clock (either way) is refused as stale,
so a captured message cannot be replayed later; inside the window the bank also refuses
a nonce it has already seen (`NonceGuard`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from paycore.errors import PaycoreError
from paycore.text import is_ascii_digits

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
KEY_ID_HEADER = "X-Key-Id"
NONCE_HEADER = "X-Nonce"

REPLAY_WINDOW_S = 300
"""How far (either way) a message's timestamp may be from the verifier's clock."""

NONCE_LENGTH_MAX = 64
RESPONSE_VERB = "RESPONSE"
CALLBACK_VERB = "NOTIFY"


class SignatureError(PaycoreError):
    """A message that must not be trusted. `code`: bad_signature | stale_signature."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SignedBy:
    """What a verified message's headers said."""

    key_id: str
    timestamp: int
    nonce: str


# -- keys ---------------------------------------------------------------------------------


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """PKCS#8 PEM, readable by the owner only."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)


def save_public_key(key: Ed25519PublicKey, path: Path) -> None:
    """SubjectPublicKeyInfo PEM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    path.write_bytes(key.public_bytes(serialization.Encoding.PEM, spki))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} does not hold an Ed25519 public key")
    return key


# -- signing and verifying ----------------------------------------------------------------


def new_nonce() -> str:
    return os.urandom(12).hex()


def canonical_message(*, verb: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """The exact bytes that are signed (see the module docstring)."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{verb}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign(
    key: Ed25519PrivateKey,
    *,
    key_id: str,
    verb: str,
    path: str,
    body: bytes,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signature headers for one message."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = new_nonce() if nonce is None else nonce
    message = canonical_message(verb=verb, path=path, timestamp=timestamp, nonce=nonce, body=body)
    return {
        SIGNATURE_HEADER: base64.b64encode(key.sign(message)).decode("ascii"),
        TIMESTAMP_HEADER: str(timestamp),
        KEY_ID_HEADER: key_id,
        NONCE_HEADER: nonce,
    }


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whether `headers` is case-insensitive (httpx, Starlette) or a dict."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, found in headers.items():
        if key.lower() == wanted:
            return found
    return None


def verify(
    key: Ed25519PublicKey,
    headers: Mapping[str, str],
    *,
    verb: str,
    path: str,
    body: bytes,
    now_s: float | None = None,
    window_s: float = REPLAY_WINDOW_S,
) -> SignedBy:
    """Check the signature and the replay window; raises SignatureError."""
    signature = header(headers, SIGNATURE_HEADER)
    timestamp_text = header(headers, TIMESTAMP_HEADER)
    nonce = header(headers, NONCE_HEADER)
    key_id = header(headers, KEY_ID_HEADER) or ""
    if signature is None or timestamp_text is None or nonce is None:
        raise SignatureError("bad_signature", "signature headers are missing")
    malformed_time = not is_ascii_digits(timestamp_text) or len(timestamp_text) > 12
    if malformed_time or len(nonce) > NONCE_LENGTH_MAX:
        raise SignatureError("bad_signature", "malformed X-Timestamp or X-Nonce")
    timestamp = int(timestamp_text)
    message = canonical_message(verb=verb, path=path, timestamp=timestamp, nonce=nonce, body=body)
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise SignatureError("bad_signature", "the signature does not match") from exc
    now_s = time.time() if now_s is None else now_s
    if abs(now_s - timestamp) > window_s:
        raise SignatureError("stale_signature", f"timestamp is more than {window_s:g} s away")
    return SignedBy(key_id=key_id, timestamp=timestamp, nonce=nonce)


class NonceGuard:
    """Remembers the nonces seen inside the replay window; a second use is a replay.

    Memory is bounded by the request rate times the window; entries older than the window
    are dropped as time passes (a stale message is refused by its timestamp anyway).
    """

    def __init__(self, window_s: float = REPLAY_WINDOW_S) -> None:
        self._window_s = window_s
        self._current: set[str] = set()
        self._previous: set[str] = set()
        self._rotated_at: float | None = None
        self._lock = threading.Lock()

    def first_use(self, key_id: str, nonce: str, *, now_s: float) -> bool:
        """True the first time (key_id, nonce) is seen within the window."""
        entry = f"{key_id}\n{nonce}"
        with self._lock:
            if self._rotated_at is None:
                self._rotated_at = now_s
            elif now_s - self._rotated_at >= 2 * self._window_s:
                # Two generations: the old one is dropped only when it is a window old.
                self._previous, self._current = self._current, set()
                self._rotated_at = now_s
            if entry in self._current or entry in self._previous:
                return False
            self._current.add(entry)
            return True
