"""Grades A-D from impact by the configured rules, and the configuration file's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.ops.model import (
    DEFAULT_GRADE_RULES,
    Grade,
    GradeRule,
    Impact,
    Thresholds,
    grade_of,
    ops_config_from,
    parse_grade,
)
from paycore.ops.service import load_ops_config

SEVERITY = {Grade.A: 4, Grade.B: 3, Grade.C: 2, Grade.D: 1}


@pytest.mark.parametrize(
    ("impact", "grade"),
    [
        (Impact(), Grade.D),
        (Impact(duration_s=599, traffic_share_ppm=19_999, merchants=9), Grade.D),
        (Impact(duration_s=600), Grade.C),
        (Impact(traffic_share_ppm=20_000), Grade.C),
        (Impact(merchants=10), Grade.C),
        (Impact(duration_s=3600), Grade.B),
        (Impact(traffic_share_ppm=200_000), Grade.B),
        (Impact(merchants=100), Grade.B),
        (Impact(duration_s=4 * 3600), Grade.A),
        (Impact(merchants=1000), Grade.A),
        (Impact(money_mismoved_minor={"CNY": 1}), Grade.A),
        (Impact(money_mismoved_minor={"CNY": 0}), Grade.D),
        (Impact(checks_failed=1), Grade.A),
    ],
)
def test_the_default_rules_grade_as_documented(impact: Impact, grade: Grade) -> None:
    assert grade_of(impact, DEFAULT_GRADE_RULES) is grade


impacts = st.builds(
    Impact,
    orders=st.integers(0, 10**6),
    merchants=st.integers(0, 5000),
    money_mismoved_minor=st.dictionaries(st.sampled_from(["CNY", "USD"]), st.integers(0, 10**6)),
    traffic_share_ppm=st.integers(0, 10**6),
    duration_s=st.integers(0, 10**6),
    checks_failed=st.integers(0, 3),
)


@given(impact=impacts, more_s=st.integers(0, 10**5), more_merchants=st.integers(0, 2000),
       more_ppm=st.integers(0, 10**6))  # fmt: skip
def test_a_bigger_impact_is_never_graded_less_severe(
    impact: Impact, more_s: int, more_merchants: int, more_ppm: int
) -> None:
    bigger = Impact(
        orders=impact.orders,
        merchants=impact.merchants + more_merchants,
        money_mismoved_minor=impact.money_mismoved_minor,
        traffic_share_ppm=min(10**6, impact.traffic_share_ppm + more_ppm),
        duration_s=impact.duration_s + more_s,
        checks_failed=impact.checks_failed,
    )
    assert SEVERITY[grade_of(bigger)] >= SEVERITY[grade_of(impact)]


@given(impact=impacts)
def test_the_grade_is_the_most_severe_rule_met_whatever_the_rules_order(impact: Impact) -> None:
    met = [r.grade for r in DEFAULT_GRADE_RULES if r.met_by(impact)]
    expected = max(met, key=SEVERITY.__getitem__, default=Grade.D)
    assert grade_of(impact, tuple(reversed(DEFAULT_GRADE_RULES))) is expected


def test_a_configuration_file_replaces_the_rules_and_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "ops.json"
    path.write_text(json.dumps({
        "thresholds": {"clear_after_s": 5, "heartbeat_margin_s_by_worker": {"flows": 90}},
        "grade_rules": [{"grade": "b", "duration_s_min": 60}],
    }))  # fmt: skip

    config = load_ops_config(str(path))

    assert config.thresholds.clear_after_s == 5
    assert config.thresholds.heartbeat_margin_for("flows") == 90
    assert config.thresholds.breaker_open_s == Thresholds().breaker_open_s
    assert config.grade_rules == (GradeRule(Grade.B, duration_s_min=60),)
    assert grade_of(Impact(duration_s=60), config.grade_rules) is Grade.B
    assert grade_of(Impact(duration_s=4 * 3600), config.grade_rules) is Grade.B


def test_no_configuration_file_means_the_documented_defaults() -> None:
    config = load_ops_config("")
    assert config.thresholds == Thresholds() and config.grade_rules == DEFAULT_GRADE_RULES


@pytest.mark.parametrize(
    "document",
    [
        {"thresholds": {"clear_after": 5}},
        {"thresholds": {"clear_after_s": -1}},
        {"thresholds": {"clear_after_s": True}},
        {"grade_rules": [{"grade": "E"}]},
        {"grade_rules": [{"grade": "D", "merchants_min": 1}]},
        {"grade_rules": [{"grade": "A"}, {"grade": "A"}]},
        {"grade_rules": [{"grade": "A", "minutes": 3}]},
        {"grade_rules": [{"grade": "A", "merchants_min": "3"}]},
        {"rules": []},
    ],
)
def test_a_configuration_with_a_typo_or_a_bad_value_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(Rejected) as refused:
        ops_config_from(document)
    assert refused.value.code in {"invalid_ops_config", "invalid_grade"}


def test_a_grade_is_read_in_either_case_and_anything_else_is_invalid_grade() -> None:
    assert parse_grade(" c ") is Grade.C
    with pytest.raises(Rejected) as refused:
        parse_grade("E")
    assert refused.value.code == "invalid_grade"
