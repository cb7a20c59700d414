"""A Prometheus rules file from the SLO configuration, over the metrics of metrics.py.

Recording rules `paycore:slo_errors:ratio_rate<window>{slo}` (bad over all SLI events,
summed over processes, for every window length the alert table uses) and one alert,
`PaycoreSloBurnRate{slo,window,severity}`, per SLO and window pair: both windows' error
ratios above factor x (1 - target), as the SRE workbook writes it. Written as JSON, which
is YAML (no YAML library needed); `promtool check rules` accepts it (tests/ops).

Only the configured SLOs get rules; the per-channel SLOs paycore derives itself
(`per_sli`) are evaluated by BurnRateAlerts, not by Prometheus.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from paycore.ops.alerts import window_label
from paycore.ops.slo import Slo, SloConfig

EVENTS = "paycore_sli_events_total"
ALERT_NAME = "PaycoreSloBurnRate"
GROUP_INTERVAL = "30s"


def record_name(seconds: int) -> str:
    return f"paycore:slo_errors:ratio_rate{window_label(seconds)}"


def decimal_text(value: Fraction) -> str:
    """Exact when the fraction has a finite decimal form (every target in ppm does)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    if Fraction(exact) == value:
        return format(exact.normalize(), "f")
    return repr(float(value))


def _selector(slo: Slo, *, bad_only: bool) -> str:
    # SLO names are [a-z0-9_:] (slo.py refuses others), so the name is a literal regex.
    result = ',result="bad"' if bad_only else ""
    return f'{EVENTS}{{sli=~"{slo.name}(:.*)?"{result}}}'


def recording_rules(config: SloConfig) -> list[dict[str, Any]]:
    rules = []
    for slo in config.slos:
        for seconds in config.durations_s():
            window = window_label(seconds)
            bad = f"sum(rate({_selector(slo, bad_only=True)}[{window}]))"
            every = f"sum(rate({_selector(slo, bad_only=False)}[{window}]))"
            expr = f"{bad} / {every}"
            labels = {"slo": slo.name}
            rules.append({"record": record_name(seconds), "expr": expr, "labels": labels})
    return rules


def alert_rules(config: SloConfig) -> list[dict[str, Any]]:
    rules = []
    for slo in config.slos:
        for pair in config.windows:
            threshold = f"({decimal_text(pair.factor)} * {decimal_text(slo.budget)})"
            long = f'{record_name(pair.long_s)}{{slo="{slo.name}"}} > {threshold}'
            short = f'{record_name(pair.short_s)}{{slo="{slo.name}"}} > {threshold}'
            rules.append(
                {
                    "alert": ALERT_NAME,
                    "expr": f"{long} and {short}",
                    "labels": {
                        "slo": slo.name,
                        "window": pair.name,
                        "severity": pair.severity.value,
                    },
                    "annotations": {
                        "summary": (
                            f"{slo.name} burns its error budget faster than "
                            f"{decimal_text(pair.factor)}x over {pair.name}"
                        ),
                    },
                }
            )
    return rules


def rules_document(config: SloConfig) -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "paycore-slo-recording",
                "interval": GROUP_INTERVAL,
                "rules": recording_rules(config),
            },
            {
                "name": "paycore-slo-alerts",
                "interval": GROUP_INTERVAL,
                "rules": alert_rules(config),
            },
        ]
    }


def render_rules(config: SloConfig) -> str:
    return json.dumps(rules_document(config), indent=2, ensure_ascii=False) + "\n"


def write_rules(config: SloConfig, path: Path) -> None:
    path.write_text(render_rules(config), encoding="utf-8")
