"""The Prometheus rules file: promtool accepts it, and its alert fires on a fast burn of
the counters /metrics exposes and stays quiet within budget."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paycore.ops.cli_slo import slo_app
from paycore.ops.rules import ALERT_NAME, record_name, render_rules, write_rules
from paycore.ops.slo import ALERT_WINDOWS, SloConfig, parse_config

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_accepts_the_rules_of_the_default_slos(tmp_path: Path) -> None:
    path = tmp_path / "paycore-slo.rules.yml"
    write_rules(SloConfig(), path)
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    document = json.loads(path.read_text())
    alerts = [r for g in document["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) == len(SloConfig().slos) * len(ALERT_WINDOWS)


def test_each_alert_compares_both_windows_to_the_factor_times_the_budget() -> None:
    document = json.loads(render_rules(SloConfig()))
    alert = next(
        r
        for g in document["groups"]
        for r in g["rules"]
        if r.get("labels", {}).get("slo") == "success:payin" and r.get("alert")
    )
    assert alert["expr"] == (
        f'{record_name(3600)}{{slo="success:payin"}} > (14.4 * 0.0001) and '
        f'{record_name(300)}{{slo="success:payin"}} > (14.4 * 0.0001)'
    )
    assert alert["labels"] == {"slo": "success:payin", "window": "1h/5m", "severity": "page"}


CONFIG = parse_config(
    {"slos": [{"name": "api_availability", "kind": "availability", "target": "99.9%"}]}
)


def _unit_test(rules: Path, *, bad_per_minute: int, fires: set[str]) -> dict[str, object]:
    """One process's SLI counters for 70 minutes, 100 events a minute of which
    `bad_per_minute` bad, checked 65 minutes in: the pairs `fires` fire, no other."""
    series = 'paycore_sli_events_total{{sli="api_availability",result="{result}"}}'
    document = json.loads(rules.read_text())
    expected = [
        {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule and rule["labels"]["window"] in fires
    ]
    good = 100 - bad_per_minute
    return {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series.format(result="bad"), "values": f"0+{bad_per_minute}x70"},
                    {"series": series.format(result="good"), "values": f"0+{good}x70"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "65m",
                        "alertname": ALERT_NAME,
                        "exp_alerts": expected,
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    ("bad_per_minute", "fires"),
    [
        (10, {"1h/5m", "6h/30m", "1d/2h", "3d/6h"}),  # 10% errors: 100x a 99.9% budget
        (1, {"6h/30m", "1d/2h", "3d/6h"}),  # 10x: under the fast pair's 14.4x
        (0, set()),
    ],
)
def test_prometheus_fires_the_pairs_whose_factor_the_burn_exceeds(
    tmp_path: Path, bad_per_minute: int, fires: set[str]
) -> None:
    rules = tmp_path / "rules.yml"
    write_rules(CONFIG, rules)
    unit = tmp_path / "test.yml"
    unit.write_text(json.dumps(_unit_test(rules, bad_per_minute=bad_per_minute, fires=fires)))
    tested = promtool("test", "rules", str(unit))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_paycore_slo_rules_writes_the_file_of_the_configured_slos(tmp_path: Path) -> None:
    config = tmp_path / "slo.json"
    config.write_text(json.dumps({"slos": [{"name": "probe", "kind": "probe", "target": "99%"}]}))
    out = tmp_path / "rules.yml"
    written = CliRunner().invoke(slo_app, ["rules", "--out", str(out), "--slo-file", str(config)])
    refused = CliRunner().invoke(
        slo_app, ["rules", "--out", str(out)], env={"PAYCORE_SLO_FILE": str(tmp_path / "none")}
    )
    assert written.exit_code == 0, written.output
    assert out.read_text() == render_rules(parse_config(json.loads(config.read_text())))
    assert refused.exit_code == 2 and "invalid_slo_config" in refused.output
