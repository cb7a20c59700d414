"""How fresh a bill is: how far the database bills read from (the reports engine, perhaps a
streaming replica) lags behind the primary, and so the instant a bill's data is true to.

On a standby the usual measure `now() - pg_last_xact_replay_timestamp()` alone is wrong
twice: on a quiet primary it grows although nothing is missing, and it says nothing of
WAL received but not yet replayed. The rule here:

- caught up (everything received is replayed) and streaming: no lag; what the primary
  committed since reaches us within the network's delay, not more;
- behind, or not streaming (the link is down, so we cannot know what we miss): the lag is
  the age of the last transaction replayed; everything committed before it is in our reads.

It errs on the stale side only: in the instant between receiving and replaying the first
commit after a quiet spell, it reports the quiet spell as lag. The primary, and SQLite,
lag by nothing. Measure before a bill reads: the reads that follow see at least that much
(a replica only moves forward).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

PROBE_TIMEOUT_MS = 1_000
PROBE_CONNECT_TIMEOUT_S = 2
"""A scrape of /metrics waits this long at most for a replica that does not answer."""

_probes: dict[str, Engine] = {}
"""One unpooled engine per reports database (a process has one or two)."""
_probes_lock = threading.Lock()

_SAMPLE = text(
    """
    SELECT pg_is_in_recovery(),
           now(),
           pg_last_xact_replay_timestamp(),
           pg_postmaster_start_time(),
           COALESCE(pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), false),
           GREATEST(COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(),
                                             pg_last_wal_replay_lsn()), 0), 0)::bigint,
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver
                   -- status is NULL to a role without pg_read_all_stats: a receiver runs
                   WHERE status IS NULL OR status = 'streaming')
    """
)


@dataclass(frozen=True, slots=True)
class ReplaySample:
    """What a standby says of its replay, at the server's `now`."""

    now: datetime
    replayed_at: datetime | None
    """Commit time (on the primary) of the last transaction replayed; None before the
    first one since the standby started."""
    started_at: datetime
    behind: bool
    """WAL was received that is not replayed yet."""
    streaming: bool


@dataclass(frozen=True, slots=True)
class Freshness:
    in_recovery: bool
    """True when the reports engine is a standby (a read replica)."""
    lag_s: float
    bytes_behind: int
    """WAL received by the standby and not yet replayed."""

    def as_of(self, now: datetime) -> datetime:
        """The instant the data read is true to, on the caller's clock."""
        return now - timedelta(seconds=self.lag_s)


PRIMARY = Freshness(in_recovery=False, lag_s=0.0, bytes_behind=0)


def replay_lag_s(sample: ReplaySample) -> float:
    """Seconds the standby's data trails the primary (see the module's rule), ≥ 0."""
    if sample.streaming and not sample.behind:
        return 0.0
    # Before the first replayed commit, the standby's data is at least as old as its start.
    since = sample.replayed_at or sample.started_at
    return max(0.0, (sample.now - since).total_seconds())


def measure(read_connection: Connection) -> Freshness:
    """The freshness of what `read_connection` reads, in one round trip (none on SQLite)."""
    if read_connection.dialect.name != "postgresql":
        return PRIMARY
    row = read_connection.execute(_SAMPLE).one()
    in_recovery, now, replayed_at, started_at, behind, bytes_behind, streaming = row
    if not in_recovery:
        return PRIMARY
    sample = ReplaySample(now, replayed_at, started_at, bool(behind), bool(streaming))
    return Freshness(True, replay_lag_s(sample), int(bytes_behind))


def as_of(read_connection: Connection, now: datetime) -> datetime:
    """The instant a bill read on `read_connection` is true to: `now` (the bill's clock)
    less the replica's lag. Call it before the bill's reads, on the same connection."""
    return measure(read_connection).as_of(now)


def of_engine(read_engine: Engine) -> Freshness | None:
    """The freshness of `read_engine` for /metrics; None when it cannot be reached (the
    scrape then lacks the gauges rather than failing: their absence is the alert).

    Measured on a connection of its own, not one of the reports pool: admission lets as
    many bills run as that pool has connections, so a scrape taking one would make a bill
    wait (and a scrape wait behind a month-end storm)."""
    if read_engine.dialect.name != "postgresql":
        return PRIMARY
    try:
        with _probe(read_engine).connect() as conn:
            return measure(conn)
    except SQLAlchemyError:
        log.warning("reports database unreachable; replica lag unknown", exc_info=True)
        return None


def _probe(read_engine: Engine) -> Engine:
    """An unpooled engine on `read_engine`'s database, made once per database."""
    url = read_engine.url.render_as_string(hide_password=False)
    with _probes_lock:
        probe = _probes.get(url)
        if probe is None:
            options = f"-c statement_timeout={PROBE_TIMEOUT_MS} -c default_transaction_read_only=on"
            connect_args = {"connect_timeout": PROBE_CONNECT_TIMEOUT_S, "options": options}
            probe = create_engine(url, poolclass=NullPool, connect_args=connect_args)
            _probes[url] = probe
        return probe
