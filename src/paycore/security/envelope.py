"""Data keys (DEKs) wrapped by a KEK, and data-subject keys, cached in memory.

`Keyring` is what a bound `FieldCipher` asks for keys. It keeps every DEK it has
unwrapped (the provider is called once per DEK and process, never per value) and learns
of a DEK rotated by another process within `REFRESH_S` (one indexed read on the next
encryption after the period has passed; none in between).

Data-subject keys (crypto-shredding): a subject's key is HKDF-SHA256(DEK, salt=the
subject's 32 random bytes, info=`paycore/subject-key`). The salt is a row of
`security_subject_keys`; `shred` sets it to NULL (and the subject too), after which no
one can derive the key again: not paycore, not the KEK's holder. One DB row and one HKDF
(a few µs) per new subject instead of a token call (tens of µs plus a round trip to a
real HSM): a per-subject *wrapped* DEK would protect no better, since the salt is as
secret as a wrapped key is without its KEK, and would make re-encryption rewrap one key
per person. Subject keys and salts are cached for `SUBJECT_CACHE_S`: **after a shred,
another process may still decrypt that subject's values for up to that long.** Backups
taken before the shred still hold the salt: they must expire on their own schedule.

Two ways to make a subject's row:

- `subject_key_id` (through `encrypt(subject=...)` or `FieldCipher.ensure_subject`): the
  keyring writes it in its own short transaction on its own engine, committed before it
  returns, whatever the caller's transaction does (a rollback of the caller leaves a salt
  that seals nothing: harmless). On SQLite a caller that already holds the write lock
  would wait on it: such callers ensure the subject before their write transaction.
- `subject_key` + `claim_subject` + `remember_subject` (pay-ins and payouts, whose
  first write per new payer cost a third of the pay-in's CPU the other way): a subject
  neither cached nor in the database (one read) gets a fresh salt in memory, the values
  are sealed under it, and the row is written by the caller's own write transaction
  (`INSERT ... ON CONFLICT DO NOTHING`, then a read). If another transaction made the
  subject meanwhile (two first pay-ins at once: on PostgreSQL the second INSERT waits
  for the first to commit), the claim answers that key, and the caller seals again under
  it before committing: every value of a subject is under its one salt. The cache
  learns the key only after the caller's commit (`remember_subject`), so a rolled-back
  pay-in leaves nothing behind, in the database or in memory. A shredded subject's row
  has no subject any more: a later claim makes a new key for new values, never brings
  the old salt back.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from paycore.clock import Clock, SystemClock
from paycore.ids import new_id
from paycore.platform.db import WRITER, one_read
from paycore.security import store_keys as store
from paycore.security.keys import KeyProvider, SubjectErased, UnknownKeyId

log = logging.getLogger(__name__)

DEK_BYTES = 32
SUBJECT_SALT_BYTES = 32
REFRESH_S = 10.0
"""How long a process keeps encrypting with a DEK after another one rotated it."""
SUBJECT_CACHE_S = 10.0
"""How long a process may still decrypt a subject's values after another one shredded it."""
SUBJECT_CACHE_MAX = 10_000
SUBJECT_LENGTH_MAX = 128
"""A subject is an opaque id chosen by the caller (e.g. a payer's blind-index value), never
a clear name or number: it is stored as given until the subject is shredded."""


@dataclass(frozen=True)
class SubjectKey:
    """A subject's key: `new` when made in memory and not yet claimed in the database."""

    subject: str
    id: str
    salt: bytes
    new: bool


@dataclass(frozen=True)
class DataKey:
    id: str
    aead: AESGCM
    key: bytes


class Keyring:
    """Thread-safe. `monotonic` is injectable so tests move the cache periods by hand."""

    def __init__(
        self,
        engine: Engine,
        provider: KeyProvider,
        *,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self.provider = provider
        self._clock = clock or SystemClock()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._deks: dict[str, DataKey] = {}
        self._subjects: dict[str, tuple[str, float]] = {}  # subject -> (key id, until)
        self._salts: dict[str, tuple[bytes | None, float]] = {}  # key id -> (salt, until)
        self._derived: dict[tuple[str, str], AESGCM] = {}
        self._active = self._load_active()
        self._refresh_at = self._monotonic() + REFRESH_S

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def last_active_id(self) -> str:
        """The active DEK as last seen, without asking the database (for repr and logs)."""
        return self._active.id

    def active(self) -> DataKey:
        if self._monotonic() >= self._refresh_at:
            self._refresh_at = self._monotonic() + REFRESH_S
            self._active = self._load_active()
        return self._active

    def dek(self, dek_id: str) -> DataKey:
        found = self._deks.get(dek_id)
        if found is not None:
            return found
        with self._engine.connect() as conn:
            row = store.data_key(conn, dek_id)
        if row is None or row.wrapped is None:
            state = "was destroyed" if row is not None else "is unknown"
            raise UnknownKeyId(f"data key {dek_id!r} {state}")
        return self._unwrapped(row.id, row.kek_id, row.wrapped)

    def _unwrapped(self, dek_id: str, kek_id: str, wrapped: str) -> DataKey:
        key = self.provider.unwrap(base64.b64decode(wrapped), kek_id=kek_id, label=dek_id)
        data_key = DataKey(dek_id, AESGCM(key), key)
        with self._lock:
            self._deks[dek_id] = data_key
        return data_key

    def _load_active(self) -> DataKey:
        with self._engine.connect() as conn:
            row = store.active_data_key(conn)
        if row is None:
            return self.dek(self.create_dek())
        return self.dek(row.id)

    def create_dek(self) -> str:
        """A new DEK wrapped under the active KEK; it becomes the active one here at once,
        and in other processes within REFRESH_S. Older DEKs are marked retired (they still
        decrypt)."""
        kek_id = self.provider.active_kek_id()
        dek_id = new_id("dek")
        key = os.urandom(DEK_BYTES)
        wrapped = self.provider.wrap(key, kek_id=kek_id, label=dek_id)
        now = self._clock.now()
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.insert_data_key(
                conn, dek_id=dek_id, kek_id=kek_id, wrapped=_b64(wrapped), created_at=now
            )
            store.retire_data_keys_before(conn, dek_id, at=now)
        with self._lock:
            self._deks[dek_id] = DataKey(dek_id, AESGCM(key), key)
        self._active = self._deks[dek_id]
        log.info("data key %s created under %s", dek_id, kek_id)
        return dek_id

    def rotate_kek(self) -> tuple[str, int]:
        """A new KEK, and every live DEK rewrapped under it (one transaction): the data is
        not touched. Returns (new KEK id, DEKs rewrapped)."""
        kek_id = self.provider.create_kek()
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            rows = [row for row in store.all_data_keys(conn) if row.wrapped is not None]
            for row in rows:
                key = self.dek(row.id).key
                wrapped = self.provider.wrap(key, kek_id=kek_id, label=row.id)
                store.rewrap_data_key(conn, row.id, kek_id=kek_id, wrapped=_b64(wrapped))
        log.info("KEK %s created; %d data keys rewrapped", kek_id, len(rows))
        return kek_id, len(rows)

    def destroy_unused_keks(self) -> list[str]:
        """Destroy the provider's KEKs that wrap no data key (never the active one)."""
        with self._engine.connect() as conn:
            used = {row.kek_id for row in store.all_data_keys(conn) if row.wrapped is not None}
        active = self.provider.active_kek_id()
        unused = [k for k in self.provider.kek_ids() if k not in used and k != active]
        for kek_id in unused:
            self.provider.destroy_kek(kek_id)
        return unused

    def subject_key_id(self, subject: str) -> str:
        """The subject's key id, its row created on first use (own transaction)."""
        if not 0 < len(subject) <= SUBJECT_LENGTH_MAX:
            raise ValueError(f"a subject has 1-{SUBJECT_LENGTH_MAX} characters")
        cached = self._subjects.get(subject)
        if cached is not None and cached[1] > self._monotonic():
            return cached[0]
        with self._engine.connect() as conn:
            row = store.subject_key_by_subject(conn, subject)
        if row is None:
            row = self._insert_subject(subject)
        self._remember(row.id, subject=subject, salt=_salt(row.salt))
        return str(row.id)

    def _insert_subject(self, subject: str) -> object:
        salt = _b64(os.urandom(SUBJECT_SALT_BYTES))
        try:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                key_id = new_id("subj")
                store.insert_subject_key(
                    conn, key_id=key_id, subject=subject, salt=salt, created_at=self._clock.now()
                )
        except IntegrityError:
            pass  # another process made it first: use theirs
        with self._engine.connect() as conn:
            return store.subject_key_by_subject(conn, subject)

    def _remember(self, key_id: str, *, subject: str | None, salt: bytes | None) -> None:
        until = self._monotonic() + SUBJECT_CACHE_S
        with self._lock:
            if len(self._salts) >= SUBJECT_CACHE_MAX:
                self._salts.clear()
                self._subjects.clear()
                self._derived.clear()
            self._salts[key_id] = (salt, until)
            if subject is not None:
                self._subjects[subject] = (key_id, until)

    def subject_aead(self, dek: DataKey, key_id: str) -> AESGCM:
        """The subject's key under this DEK; SubjectErased once shredded."""
        cached = self._salts.get(key_id)
        if cached is None or cached[1] <= self._monotonic():
            with self._engine.connect() as conn:
                row = store.subject_key(conn, key_id)
            if row is None:
                raise UnknownKeyId(f"no subject key {key_id!r}")
            self._remember(key_id, subject=None, salt=_salt(row.salt))
            cached = self._salts[key_id]
        salt = cached[0]
        if salt is None:
            raise SubjectErased(f"subject key {key_id} was destroyed: the value is erased")
        derived = self._derived.get((dek.id, key_id))
        if derived is None:
            derived = _derive(dek, salt)
            with self._lock:
                self._derived[(dek.id, key_id)] = derived
        return derived

    # -- subject keys written in the caller's transaction -------------------------------

    def subject_key(self, subject: str) -> SubjectKey:
        """The subject's key without writing: the cached one, else the database's (one
        read), else a fresh one (`new`) for `claim_subject` to write in the caller's
        transaction."""
        if not 0 < len(subject) <= SUBJECT_LENGTH_MAX:
            raise ValueError(f"a subject has 1-{SUBJECT_LENGTH_MAX} characters")
        now = self._monotonic()
        cached = self._subjects.get(subject)
        if cached is not None and cached[1] > now:
            salt = self._salts.get(cached[0])
            if salt is not None and salt[0] is not None and salt[1] > now:
                return SubjectKey(subject, cached[0], salt[0], new=False)
        # One read (no transaction on PostgreSQL) for a payer the database may know: a
        # claim that finds the payer's key inside the write transaction would seal again
        # and rewrite the order there, holding the write lock longer (measured: no
        # cheaper for a new payer, dearer for a known one).
        with one_read(self._engine) as conn:
            row = store.subject_key_by_subject(conn, subject)
        if row is not None and row.salt is not None:
            self._remember(row.id, subject=subject, salt=_salt(row.salt))
            return SubjectKey(subject, str(row.id), base64.b64decode(row.salt), new=False)
        return SubjectKey(subject, new_id("subj"), os.urandom(SUBJECT_SALT_BYTES), new=True)

    def subject_key_aead(self, dek: DataKey, key: SubjectKey) -> AESGCM:
        """The key's AEAD under `dek`, from the salt it carries; a new key's is not cached
        (it may lose its claim)."""
        if key.new:
            return _derive(dek, key.salt)
        derived = self._derived.get((dek.id, key.id))
        if derived is None:
            derived = _derive(dek, key.salt)
            with self._lock:
                self._derived[(dek.id, key.id)] = derived
        return derived

    def claim_subject(self, conn: Connection, key: SubjectKey) -> SubjectKey:
        """The subject's key for good, its row written in `conn`'s transaction when `key`
        is new: `key` itself, or the key another transaction made first. Nothing is
        cached here: call `remember_subject` after the commit."""
        if not key.new:
            return key
        for _ in range(_CLAIM_TRIES):
            salt = _b64(key.salt)
            if store.claim_subject_key(
                conn, key_id=key.id, subject=key.subject, salt=salt, created_at=self._clock.now()
            ):
                return key
            row = store.subject_key_by_subject(conn, key.subject)
            if row is not None and row.salt is not None:
                return SubjectKey(key.subject, str(row.id), base64.b64decode(row.salt), new=False)
            # Made and shredded between our two statements: claim again.
        raise SubjectClaimFailed(f"subject key of {key.subject[:12]}... kept changing")

    def remember_subject(self, key: SubjectKey) -> None:
        """Cache a claimed key once the transaction that wrote it has committed."""
        self._remember(key.id, subject=key.subject, salt=key.salt)

    def shred(self, subject: str) -> bool:
        """Destroy the subject's key: its values can never be decrypted again (here at
        once, in other processes within SUBJECT_CACHE_S). False if the subject had none."""
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            row = store.subject_key_by_subject(conn, subject)
            done = store.shred_subject_key(conn, subject, at=self._clock.now())
        if row is not None:
            self._remember(row.id, subject=None, salt=None)
            with self._lock:
                self._subjects.pop(subject, None)
                for pair in [pair for pair in self._derived if pair[1] == row.id]:
                    del self._derived[pair]
        return done


class SubjectClaimFailed(RuntimeError):
    """A subject's row appeared and vanished under a claim, again and again."""


_CLAIM_TRIES = 3


def _derive(dek: DataKey, salt: bytes) -> AESGCM:
    hkdf = HKDF(hashes.SHA256(), length=32, salt=salt, info=b"paycore/subject-key")
    return AESGCM(hkdf.derive(dek.key))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _salt(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
