"""Which merchants have split rules, as this process last read them.

Every paid pay-in passes the split listener; most merchants have no rule, and reading the
rule and the split for nothing was half of a callback's CPU on its request thread. The
listener asks this cache first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from paycore.platform.db import one_read
from paycore.split import store

RULE_KEYS_TTL_S = 10.0
"""How long a process trusts what it read of a merchant's rules. A rule made by another
process is unseen by this one's listener for at most this long; what the listener skips
meanwhile is split by the sweep of the next tick (a few seconds), as after a lost call."""


class RuleKeys:
    """The (product, currency) pairs of each merchant with an active split rule, read at
    most once per `ttl_s` per merchant, and again at once after `forget` (this process
    changed the merchant's rules). Thread-safe."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl_s: float = RULE_KEYS_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._read: dict[str, tuple[float, frozenset[tuple[str, str]]]] = {}
        self._generation = 0

    def may_apply(self, merchant_id: str, product: str, currency: str) -> bool:
        """True if the merchant has an active rule for the product and currency."""
        now = self._monotonic()
        with self._lock:
            hit = self._read.get(merchant_id)
            generation = self._generation
        if hit is None or now - hit[0] >= self._ttl_s:
            with one_read(self._engine) as conn:
                keys = store.active_rule_keys(conn, merchant_id)
            with self._lock:
                # A rule changed while we read may be missing from what we read: keep it
                # only if nothing was forgotten since.
                if self._generation == generation:
                    self._read[merchant_id] = (now, keys)
            hit = (now, keys)
        return (product, currency) in hit[1]

    def forget(self, merchant_id: str) -> None:
        """Call after committing a change to the merchant's rules."""
        with self._lock:
            self._generation += 1
            self._read.pop(merchant_id, None)
