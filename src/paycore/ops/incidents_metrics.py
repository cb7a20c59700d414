"""Incidents on /metrics: how many are open per kind and severity, and how long ago the
newest one opened. Read from the database at scrape time, so every process agrees."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from paycore.clock import Clock
from paycore.ops.incidents import Incidents


class IncidentsCollector(Collector):
    def __init__(self, incidents: Incidents, clock: Clock) -> None:
        self._incidents = incidents
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        summary = self._incidents.open_summary()
        open_now = GaugeMetricFamily(
            "paycore_incidents_open", "incidents open now", labels=["kind", "severity"]
        )
        for kind, severity, count in summary.counts:
            open_now.add_metric([kind, severity], count)
        yield open_now
        if summary.last_opened_at is not None:
            age_s = (self._clock.now() - summary.last_opened_at).total_seconds()
            yield GaugeMetricFamily(
                "paycore_incident_last_opened_age_seconds",
                "seconds since the most recent incident opened",
                max(0.0, age_s),
            )
