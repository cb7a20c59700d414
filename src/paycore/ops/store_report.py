"""SQL of the weekly report: incidents counted by grade, from ops_incidents
(store_incidents.py). Listing them is the Incidents service's (ops/incidents.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from paycore.ops.store_incidents import incidents


def incidents_by_grade(
    conn: Connection, *, start: datetime, end: datetime
) -> dict[str | None, int]:
    """{reviewed grade, or None while awaiting review: incidents opened in [start, end)}."""
    i = incidents
    query = (
        select(i.c.grade, func.count())
        .where(i.c.opened_at >= start, i.c.opened_at < end)
        .group_by(i.c.grade)
    )
    return {grade: int(count) for grade, count in conn.execute(query)}
