"""Tables and SQL of SLOs: every probe the prober made, SLI counts per minute, and the
burn-rate alerts evaluated over them (migration 0022_ops_slo)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from paycore.payments.model import PROBE_MERCHANT_ID
from paycore.payments.store import orders
from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata

probes = Table(
    "ops_probes",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    # payin:<channel> | health | read
    Column("target", String(64), nullable=False),
    Column("node", String(64), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("error", String(256), nullable=False),
    Column("probed_at", UTCDateTime, nullable=False),
)
Index("ix_ops_probes_target_at", probes.c.target, probes.c.probed_at)
Index("ix_ops_probes_at", probes.c.probed_at)

sli_minutes = Table(
    "ops_sli_minutes",
    metadata,
    # The SLI: api_availability | latency:<route family> | probe:<target>
    Column("sli", String(64), nullable=False),
    Column("node", String(64), nullable=False),
    Column("minute_at", UTCDateTime, nullable=False),
    Column("good", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    PrimaryKeyConstraint("sli", "node", "minute_at", name="pk_ops_sli_minutes"),
)
Index("ix_ops_sli_minutes_at", sli_minutes.c.minute_at)

alerts = Table(
    "ops_alerts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("slo", String(64), nullable=False),
    # page | ticket, and which window pair fired (1h/5m, 6h/30m, 1d/2h, 3d/6h)
    Column("severity", String(16), nullable=False),
    Column("window", String(16), nullable=False),
    Column("burn_rate_long_ppm", BigInteger, nullable=False),
    Column("burn_rate_short_ppm", BigInteger, nullable=False),
    Column("firing", Boolean, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("evaluated_at", UTCDateTime, nullable=False),
)
Index("ix_ops_alerts_slo_window", alerts.c.slo, alerts.c.window, alerts.c.started_at)


# -- SQL ---------------------------------------------------------------------------------
# Reads of payment_orders are read-only and use its (kind, status, finished_at) index.

FINAL_GOOD = ("succeeded", "returned")
"""A returned payout was paid: the return is the beneficiary's bank's doing."""
EFFECTIVE_BAD_CLASSES = ("channel", "system")
"""Effective success leaves out failures the payer or the merchant caused (store_rates)."""
NO_CHANNEL = "none"
"""The channel of an order no channel took (every breaker open)."""


def _dialect_insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def insert_probe(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(probes).values(**row))


def add_sli_minutes(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add counts to minutes (sli, node, minute_at, good, total), creating them."""
    if not rows:
        return
    stmt = _dialect_insert(conn)(sli_minutes)
    stmt = stmt.on_conflict_do_update(
        index_elements=["sli", "node", "minute_at"],
        set_={
            "good": sli_minutes.c.good + stmt.excluded.good,
            "total": sli_minutes.c.total + stmt.excluded.total,
        },
    )
    conn.execute(stmt, [dict(r) for r in rows])


def set_sli_minutes(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Replace the counts of minutes, creating them (a recomputed rollup)."""
    if not rows:
        return
    stmt = _dialect_insert(conn)(sli_minutes)
    stmt = stmt.on_conflict_do_update(
        index_elements=["sli", "node", "minute_at"],
        set_={"good": stmt.excluded.good, "total": stmt.excluded.total},
    )
    conn.execute(stmt, [dict(r) for r in rows])


def delete_sli_minutes_before(conn: Connection, before: datetime) -> int:
    return conn.execute(delete(sli_minutes).where(sli_minutes.c.minute_at < before)).rowcount or 0


def sli_minutes_of(
    conn: Connection, *, node: str, start: datetime
) -> dict[tuple[str, datetime], tuple[int, int]]:
    rows = conn.execute(
        select(
            sli_minutes.c.sli, sli_minutes.c.minute_at, sli_minutes.c.good, sli_minutes.c.total
        ).where(sli_minutes.c.node == node, sli_minutes.c.minute_at >= start)
    )
    return {(r.sli, r.minute_at): (int(r.good), int(r.total)) for r in rows}


def _minute_of(conn: Connection, column: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.date_trunc("minute", column)
    return func.strftime("%Y-%m-%d %H:%M:00", column)


def order_outcome_minutes(
    conn: Connection, *, start: datetime, end: datetime
) -> list[tuple[str, str, datetime, int, int]]:
    """(kind, channel, minute, good, total) of orders that became final in [start, end):
    good = succeeded (or returned), total = good + failures of class channel or system."""
    o = orders
    good = func.sum(case((o.c.status.in_(FINAL_GOOD), 1), else_=0))
    bad = func.sum(
        case(
            (
                and_(
                    o.c.status == "failed",
                    or_(
                        o.c.failure_class.is_(None),
                        o.c.failure_class.in_(EFFECTIVE_BAD_CLASSES),
                    ),
                ),
                1,
            ),
            else_=0,
        )
    )
    minute = _minute_of(conn, o.c.finished_at).label("minute")
    channel = func.coalesce(o.c.channel, NO_CHANNEL).label("channel")
    query = (
        select(o.c.kind, channel, minute, good, bad)
        .where(
            o.c.kind.in_(["payin", "payout", "refund"]),
            o.c.merchant_id != PROBE_MERCHANT_ID,  # the prober's have their own SLO
            o.c.status.in_([*FINAL_GOOD, "failed"]),
            o.c.finished_at >= start,
            o.c.finished_at < end,
        )
        .group_by(o.c.kind, channel, minute)
    )
    result = []
    for kind, chan, at, g, b in conn.execute(query):
        result.append((kind, chan, _as_minute(at), int(g or 0), int(g or 0) + int(b or 0)))
    return result


def _as_minute(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite's strftime
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    at: datetime = value
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def window_sums(
    conn: Connection, *, starts: Sequence[datetime], end: datetime
) -> dict[str, list[tuple[int, int]]]:
    """Per SLI, (good, total) summed over every node since each of `starts` until `end`:
    one range scan of the minute index, however many windows."""
    m = sli_minutes
    columns: list[Any] = []
    for i, start in enumerate(starts):
        inside = m.c.minute_at >= bindparam(f"s{i}", start, type_=UTCDateTime)
        columns.append(func.sum(case((inside, m.c.good), else_=0)))
        columns.append(func.sum(case((inside, m.c.total), else_=0)))
    query = (
        select(m.c.sli, *columns)
        .where(m.c.minute_at >= min(starts), m.c.minute_at < end)
        .group_by(m.c.sli)
    )
    sums: dict[str, list[tuple[int, int]]] = {}
    for row in conn.execute(query):
        values = [int(v or 0) for v in row[1:]]
        sums[row[0]] = [(values[2 * i], values[2 * i + 1]) for i in range(len(starts))]
    return sums


def probe_counts(conn: Connection, *, start: datetime, end: datetime) -> list[tuple[str, int, int]]:
    """(target, ok probes, probes) in [start, end), per target."""
    ok = func.sum(case((probes.c.ok.is_(True), 1), else_=0))
    rows = conn.execute(
        select(probes.c.target, ok, func.count())
        .where(probes.c.probed_at >= start, probes.c.probed_at < end)
        .group_by(probes.c.target)
        .order_by(probes.c.target)
    )
    return [(r[0], int(r[1] or 0), int(r[2])) for r in rows]


def recent_probes(conn: Connection, *, limit: int) -> list[Mapping[str, Any]]:
    rows = conn.execute(select(probes).order_by(probes.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


# -- alerts ------------------------------------------------------------------------------

ALERT_LOCK = 0x5C0_A1E7
"""The advisory lock under which one server process at a time changes alert state."""
ROLLUP_LOCK = 0x5C0_A1E8
"""The one under which one process at a time recounts the orders' outcomes."""


def lock(conn: Connection, key: int) -> None:
    """Serialize a transaction across processes until it ends (SQLite: the writer's BEGIN
    IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(key)))


def open_alerts(conn: Connection) -> list[Mapping[str, Any]]:
    rows = conn.execute(select(alerts).where(alerts.c.ended_at.is_(None)).order_by(alerts.c.id))
    return [dict(r._mapping) for r in rows]


def start_alert(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(alerts).values(**row, firing=True, ended_at=None))


def touch_alert(
    conn: Connection, alert_id: int, *, burn_long_ppm: int, burn_short_ppm: int, now: datetime
) -> None:
    conn.execute(
        update(alerts)
        .where(alerts.c.id == alert_id)
        .values(
            burn_rate_long_ppm=burn_long_ppm, burn_rate_short_ppm=burn_short_ppm, evaluated_at=now
        )
    )


def end_alert(conn: Connection, alert_id: int, *, now: datetime) -> None:
    conn.execute(
        update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.ended_at.is_(None))
        .values(firing=False, ended_at=now, evaluated_at=now)
    )


def alert_history(
    conn: Connection, *, since: datetime | None, limit: int
) -> list[Mapping[str, Any]]:
    query = select(alerts).order_by(alerts.c.started_at.desc(), alerts.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(or_(alerts.c.ended_at.is_(None), alerts.c.ended_at >= since))
    return [dict(r._mapping) for r in conn.execute(query)]
