"""Files at rest, encrypted: statements, received bank files, exports, backups.

Each file gets a fresh random 256-bit data key, sealed with the field cipher
(`FieldCipher.encrypt(..., context="paycore-file:<kind>")`, so the envelope's KEK, its
rotation and its provider protect files exactly as they protect columns) and written in a
small header. The body is AES-256-GCM in chunks of CHUNK_BYTES; each chunk's associated
data is the header's SHA-256, the chunk's index and a final-chunk flag, so a chunk moved,
dropped, swapped with another file's or cut off at the end fails to open (the last chunk
is the only one sealed as final: a file cut at a chunk boundary is caught too).

    MAGIC(6) | chunk_bytes u32 | token_length u16 | token (ASCII) | chunks...
    chunk i:  AES-GCM(key, nonce=i as 12 bytes, plaintext, aad=sha256(header)|i u64|final)

The nonce is the chunk index: safe because no key ever seals two files. Memory is flat:
one chunk in, one chunk out, whatever the file's size.

Files written before encryption was on are still read (`is_sealed` tells them apart by
the magic); the retention purge removes them in time. The data key is not bound to a data
subject: crypto-shredding a payer does not reach a file, the retention does.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import shutil
import struct
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paycore.errors import Rejected

MAGIC = b"PCENC1"
CHUNK_BYTES = 64 * 1024
"""Clear bytes per chunk: big enough that the 16-byte tag and a call per chunk cost little,
small enough that a reader and a writer hold next to nothing."""
CHUNK_BYTES_MAX = 16 * 1024 * 1024
"""A header naming larger chunks is refused (a forged header must not make us allocate)."""
TOKEN_BYTES_MAX = 4096
TAG_BYTES = 16
DATA_KEY_BYTES = 32
_FIXED = struct.Struct(">IH")  # chunk_bytes, token_length
_AAD = struct.Struct(">QB")  # chunk index, final flag


class FieldSealer(Protocol):
    """What files need of `FieldCipher` (its public API)."""

    def encrypt(self, plaintext: str, *, context: str) -> str: ...

    def decrypt(self, token: str, *, context: str) -> str: ...


def context_of(kind: str) -> str:
    """The field-cipher context a file kind's data keys are sealed under: a header copied
    onto a file of another kind does not open."""
    return f"paycore-file:{kind}"


def tampered(path: Path | str, why: str) -> Rejected:
    return Rejected("file_tampered", f"{Path(path).name}: {why}")


class SealedWriter:
    """A write-only binary file object that encrypts as it goes; `close()` seals the final
    chunk. Used as a context manager, an exception leaves no file behind."""

    def __init__(
        self, out: BinaryIO, cipher: FieldSealer, *, kind: str, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        if not 0 < chunk_bytes <= CHUNK_BYTES_MAX:
            raise ValueError(f"chunk_bytes must be 1..{CHUNK_BYTES_MAX}")
        key = secrets.token_bytes(DATA_KEY_BYTES)
        token = cipher.encrypt(base64.b64encode(key).decode("ascii"), context=context_of(kind))
        raw = token.encode("ascii")
        header = MAGIC + _FIXED.pack(chunk_bytes, len(raw)) + raw
        out.write(header)
        self._out = out
        self._aead = AESGCM(key)
        self._header_digest = hashlib.sha256(header).digest()
        self._chunk_bytes = chunk_bytes
        self._buffer = bytearray()
        self._index = 0
        self.closed = False
        self.clear_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed SealedWriter")
        self._buffer += data
        # Strictly more than a chunk: the last chunk is sealed only by close(), as final.
        while len(self._buffer) > self._chunk_bytes:
            self._seal(bytes(self._buffer[: self._chunk_bytes]), final=False)
            del self._buffer[: self._chunk_bytes]
        self.clear_bytes += len(data)
        return len(data)

    def _seal(self, chunk: bytes, *, final: bool) -> None:
        aad = self._header_digest + _AAD.pack(self._index, final)
        self._out.write(self._aead.encrypt(_nonce(self._index), chunk, aad))
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self.closed = True

    def flush(self) -> None:
        self._out.flush()

    def writable(self) -> bool:
        return True

    def __enter__(self) -> SealedWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def is_sealed(path: Path) -> bool:
    """Whether `path` was written by this module (else it is a clear file of before)."""
    with path.open("rb") as source:
        return source.read(len(MAGIC)) == MAGIC


def _open_header(
    source: BinaryIO, cipher: FieldSealer, kind: str, name: str
) -> tuple[AESGCM, bytes, int]:
    fixed = source.read(len(MAGIC) + _FIXED.size)
    if len(fixed) < len(MAGIC) + _FIXED.size or not fixed.startswith(MAGIC):
        raise tampered(name, "not an encrypted paycore file")
    chunk_bytes, token_length = _FIXED.unpack(fixed[len(MAGIC) :])
    if not 0 < chunk_bytes <= CHUNK_BYTES_MAX or token_length > TOKEN_BYTES_MAX:
        raise tampered(name, "the header is out of bounds")
    raw = source.read(token_length)
    if len(raw) != token_length:
        raise tampered(name, "the header is cut short")
    try:
        key = base64.b64decode(cipher.decrypt(raw.decode("ascii"), context=context_of(kind)))
    except Rejected:
        raise
    except Exception as error:  # CipherError and its kin, a token that is not ASCII
        raise tampered(name, f"its data key does not open ({type(error).__name__})") from None
    if len(key) != DATA_KEY_BYTES:
        raise tampered(name, "its data key has the wrong length")
    return AESGCM(key), hashlib.sha256(fixed + raw).digest(), chunk_bytes


def read_chunks(
    source: BinaryIO, cipher: FieldSealer, *, kind: str, name: str = "file"
) -> Iterator[bytes]:
    """The clear content of a sealed stream, chunk by chunk, each checked before it is
    handed out; `file_tampered` at the first chunk that does not open, or when the file
    ends without its final chunk."""
    aead, digest, chunk_bytes = _open_header(source, cipher, kind, name)
    record = chunk_bytes + TAG_BYTES
    index = 0
    current = source.read(record)
    while True:
        following = source.read(record) if len(current) == record else b""
        final = not following
        try:
            clear = aead.decrypt(_nonce(index), current, digest + _AAD.pack(index, final))
        except InvalidTag:
            why = "cut short or altered" if final else "altered or reordered"
            raise tampered(name, f"chunk {index} does not open: {why}") from None
        yield clear
        if final:
            if len(current) < record and source.read(1):
                raise tampered(name, "bytes follow its final chunk")
            return
        current, index = following, index + 1


def iter_clear(path: Path, cipher: FieldSealer, *, kind: str) -> Iterator[bytes]:
    """A kept file's clear content in chunks: decrypted if sealed, as is if it is a clear
    file of before encryption. The file is open only while the iterator runs."""
    with path.open("rb") as source:
        if source.read(len(MAGIC)) != MAGIC:
            source.seek(0)
            while block := source.read(CHUNK_BYTES):
                yield block
            return
        source.seek(0)
        yield from read_chunks(source, cipher, kind=kind, name=path.name)


def read_clear(path: Path, cipher: FieldSealer, *, kind: str) -> bytes:
    """The whole clear content (for small files only: a statement, a report)."""
    return b"".join(iter_clear(path, cipher, kind=kind))


def write_sealed(path: Path, chunks: Iterable[bytes], cipher: FieldSealer, *, kind: str) -> int:
    """Seal `chunks` into `path`, atomically (a reader never sees half a file; a failure
    leaves nothing). Returns the clear bytes written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.sealing")
    try:
        with _private_file(partial) as out, SealedWriter(out, cipher, kind=kind) as sealed:
            for chunk in chunks:
                sealed.write(chunk)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return sealed.clear_bytes


def seal_bytes(path: Path, data: bytes, cipher: FieldSealer, *, kind: str) -> int:
    return write_sealed(path, [data], cipher, kind=kind)


def seal_file(source: Path, target: Path, cipher: FieldSealer, *, kind: str) -> int:
    """Encrypt the clear file `source` into `target` (streamed); `source` is left as is."""
    with source.open("rb") as clear:
        return write_sealed(target, iter(lambda: clear.read(CHUNK_BYTES), b""), cipher, kind=kind)


def unseal_file(source: Path, target: Path, cipher: FieldSealer, *, kind: str) -> int:
    """Decrypt `source` into the clear file `target` (mode 0600), streamed; on a tampered
    chunk `target` is removed and `file_tampered` raised."""
    done = 0
    try:
        with _private_file(target) as out:
            for chunk in iter_clear(source, cipher, kind=kind):
                out.write(chunk)
                done += len(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return done


@contextlib.contextmanager
def clear_copy(path: Path, cipher: FieldSealer, *, kind: str) -> Iterator[Path]:
    """A clear copy of a kept file for a reader that needs a path (a parser), in a private
    temporary folder (mode 0700) removed as soon as the reader is done."""
    folder = Path(tempfile.mkdtemp(prefix="paycore-clear-"))
    try:
        target = folder / path.name.removesuffix(SEALED_SUFFIX)
        unseal_file(path, target, cipher, kind=kind)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def clear_scratch(name: str) -> Iterator[Path]:
    """A path for a clear file a writer must make before it is sealed (XlsxWriter wants a
    path), in a private temporary folder removed when done."""
    folder = Path(tempfile.mkdtemp(prefix="paycore-clear-"))
    try:
        yield folder / name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


SEALED_SUFFIX = ".enc"
"""Appended to the name of a kept file once it is sealed, so a person listing the folder
(and the retention purge) sees which files are encrypted."""


@contextlib.contextmanager
def _private_file(path: Path) -> Iterator[BinaryIO]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        yield out
        out.flush()
        os.fsync(out.fileno())
