"""Tables and SQL of SLOs: every probe the prober made, SLI counts per minute, and the
burn-rate alerts evaluated over them (migration 0022_ops_slo)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

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
