"""SLOs on /metrics: the SLI counters Prometheus computes burn rates from (rules.py), each
SLO's target, the burn rates paycore computed itself, and which alerts fire.

- `paycore_sli_events_total{sli,result="good"|"bad"}`: counters of this process since it
  started (requests, probes, and the order outcomes its alert evaluations counted); sum
  them over processes. Both results are always exposed, so a ratio never lacks its bad.
- `paycore_slo_target_ratio{slo}`, `paycore_slo_latency_threshold_seconds{slo}`.
- `paycore_slo_burn_rate{slo,window}`: from ops_sli_minutes (every process's minutes),
  per window length; one grouped query per scrape (alerts.py says what it reads).
- `paycore_slo_alert_firing{slo,window,severity}`: 1 while ops_alerts holds the pair open.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paycore.ops.alerts import BurnRateAlerts, window_label
from paycore.ops.sli import SliRecorder
from paycore.ops.slo import burn_rate


class SloCollector(Collector):
    def __init__(self, alerts: BurnRateAlerts, recorder: SliRecorder | None = None) -> None:
        self._alerts = alerts
        self._recorder = recorder

    def collect(self) -> Iterator[Metric]:
        yield from self._counters()
        yield from self._targets()
        yield from self._burn_and_firing()

    def _counters(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "paycore_sli_events", "SLI events counted by this process", labels=["sli", "result"]
        )
        if self._recorder is not None:
            for totals in self._recorder.totals():
                events.add_metric([totals.sli, "good"], totals.good)
                events.add_metric([totals.sli, "bad"], totals.total - totals.good)
        yield events

    def _targets(self) -> Iterator[Metric]:
        target = GaugeMetricFamily(
            "paycore_slo_target_ratio", "the objective: share of good events", labels=["slo"]
        )
        threshold = GaugeMetricFamily(
            "paycore_slo_latency_threshold_seconds",
            "latency SLOs: slower than this is a bad event",
            labels=["slo"],
        )
        for slo in self._alerts.config.slos:
            target.add_metric([slo.name], float(slo.target))
            if slo.threshold_ms is not None:
                threshold.add_metric([slo.name], slo.threshold_ms / 1000)
        yield target
        yield threshold

    def _burn_and_firing(self) -> Iterator[Metric]:
        burn = GaugeMetricFamily(
            "paycore_slo_burn_rate",
            "error ratio over the window divided by the error budget (1 - target)",
            labels=["slo", "window"],
        )
        firing = GaugeMetricFamily(
            "paycore_slo_alert_firing",
            "1 while a multi-window burn-rate alert fires",
            labels=["slo", "window", "severity"],
        )
        open_pairs = {(r["slo"], r["window"]) for r in self._alerts.firing()}
        for status in self._alerts.status():
            for seconds, counts in status.counts.items():
                rate = float(burn_rate(counts, status.slo))
                burn.add_metric([status.slo.name, window_label(seconds)], rate)
            for verdict in status.verdicts:
                pair = verdict.pair
                on = 1 if (status.slo.name, pair.name) in open_pairs else 0
                firing.add_metric([status.slo.name, pair.name, pair.severity.value], on)
        yield burn
        yield firing
