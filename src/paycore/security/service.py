"""API keys: issue, authenticate (with a short in-process cache), revoke, list."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from paycore.clock import Clock, SystemClock
from paycore.errors import Rejected
from paycore.ids import new_id
from paycore.platform.db import WRITER
from paycore.security import store
from paycore.security.model import (
    ApiKey,
    Principal,
    Unauthenticated,
    check_label,
    format_key,
    new_secret,
    scopes_for_new_key,
    split_key,
)

log = logging.getLogger(__name__)

AUTH_CACHE_TTL_S = 10.0
"""How long a process trusts a successful authentication without asking the database.
A revoked key therefore keeps working for at most this long in *other* processes; the
process that revokes it forgets it at once."""
AUTH_CACHE_ENTRIES_MAX = 10_000
LAST_USED_RESOLUTION_S = 60.0
"""`last_used_at` is written at most this often per key and process: a hint, not a log."""
KEYS_LIST_MAX = 1000


def secret_hash(secret: str) -> str:
    """SHA-256 hex; see security/store.py for why no slow KDF."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    expires_at: datetime


class ApiKeys:
    """Thread-safe; one per process and database."""

    def __init__(
        self, engine: Engine, clock: Clock | None = None, *, cache_ttl_s: float = AUTH_CACHE_TTL_S
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITER)
        self._clock = clock or SystemClock()
        self._ttl = timedelta(seconds=cache_ttl_s)
        self._cache: dict[bytes, _Cached] = {}
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        merchant_id: str | None,
        scopes: Iterable[str] | None = None,
        label: str = "",
    ) -> tuple[ApiKey, str]:
        """A new key and its clear form `pk_<id>_<secret>`, which is never shown again.
        `scopes=None` gives a merchant key the default merchant scopes."""
        key = ApiKey(
            id=new_id("key"),
            merchant_id=merchant_id,
            scopes=scopes_for_new_key(merchant_id, scopes),
            label=check_label(label),
            created_at=self._clock.now(),
        )
        secret = new_secret()
        try:
            with self._writer.begin() as conn:
                store.insert_key(conn, key, secret_hash=secret_hash(secret))
        except IntegrityError:
            # The only constraint a fresh random id can break is the merchant reference.
            raise Rejected("merchant_not_found", f"no merchant {merchant_id}") from None
        return key, format_key(key.id, secret)

    def authenticate(self, presented: str) -> Principal:
        """The principal of a valid, unrevoked key; else Unauthenticated (code
        `unauthenticated`), the same for every reason."""
        principal = self.cached(presented)
        if principal is not None:
            return principal
        parts = split_key(presented)
        if parts is None:
            raise Unauthenticated()
        key_id, secret = parts
        with self._engine.connect() as conn:
            found = store.key_with_hash(conn, key_id)
        if found is None:
            raise Unauthenticated()
        key, stored_hash = found
        # Constant time: how much of the hash matched must not show in the response time.
        if not hmac.compare_digest(stored_hash, secret_hash(secret)) or key.revoked:
            raise Unauthenticated()
        now = self._clock.now()
        self._remember(presented, key.principal(), now)
        self._touch(key, now)
        return key.principal()

    def cached(self, presented: str) -> Principal | None:
        """The principal if this process authenticated exactly this key within the TTL.

        Keyed by the SHA-256 of the whole presented key, so only the same secret can hit;
        the dictionary lookup on that digest reveals nothing useful about the secret."""
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        entry = self._cache.get(digest)
        if entry is None or self._clock.now() >= entry.expires_at:
            return None
        return entry.principal

    def revoke(self, key_id: str) -> ApiKey:
        with self._writer.begin() as conn:
            store.revoke(conn, key_id, at=self._clock.now())
            key = store.get(conn, key_id)
        if key is None:
            raise Rejected("api_key_not_found", f"no API key {key_id}")
        with self._lock:
            for digest in [d for d, e in self._cache.items() if e.principal.key_id == key_id]:
                del self._cache[digest]
        return key

    def get(self, key_id: str) -> ApiKey | None:
        with self._engine.connect() as conn:
            return store.get(conn, key_id)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def list(self, merchant_id: str | None = None) -> builtins.list[ApiKey]:
        """Keys of one merchant, or every key when `merchant_id` is None (at most
        KEYS_LIST_MAX, oldest first), revoked ones included."""
        with self._engine.connect() as conn:
            return store.page(conn, merchant_id=merchant_id, limit=KEYS_LIST_MAX)

    def _remember(self, presented: str, principal: Principal, now: datetime) -> None:
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        with self._lock:
            if len(self._cache) >= AUTH_CACHE_ENTRIES_MAX:
                live = {d: e for d, e in self._cache.items() if e.expires_at > now}
                self._cache = live if len(live) < AUTH_CACHE_ENTRIES_MAX else {}
            self._cache[digest] = _Cached(principal, now + self._ttl)

    def _touch(self, key: ApiKey, now: datetime) -> None:
        last = key.last_used_at
        if last is not None and (now - last).total_seconds() < LAST_USED_RESOLUTION_S:
            return
        try:
            with self._writer.begin() as conn:
                store.touch(conn, key.id, at=now)
        except SQLAlchemyError:
            # A hint only: a busy or read-only database must not refuse a valid key.
            log.warning("could not record the use of API key %s", key.id, exc_info=True)
