"""SLO configuration: documented defaults, exact targets, strict validation, and the
burn-rate rules of the SRE workbook's multi-window alerts."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.ops.model import Severity
from paycore.ops.slo import (
    ALERT_WINDOWS,
    PPM,
    Counts,
    Slo,
    SloConfig,
    SloKind,
    WindowPair,
    burn_rate,
    judge,
    load_config,
    parse_config,
    parse_percent,
)


def test_the_defaults_hold_the_seeds_targets_exactly() -> None:
    config = SloConfig()
    payin, payout = config.get("success:payin"), config.get("success:payout")
    availability = config.get("api_availability")
    assert payin is not None and payin.target == Fraction(9999, 10000)
    assert payout is not None and payout.target == Fraction(9995, 10000)
    assert availability is not None and availability.target_ppm == 999_900
    assert all(s.threshold_ms for s in config.latency_slos())


def test_the_alert_table_is_the_sre_workbooks() -> None:
    table = [(w.long_s, w.short_s, w.factor, w.severity) for w in ALERT_WINDOWS]
    assert table == [
        (3600, 300, Fraction("14.4"), Severity.PAGE),
        (21600, 1800, Fraction(6), Severity.PAGE),
        (86400, 7200, Fraction(3), Severity.TICKET),
        (259200, 21600, Fraction(1), Severity.TICKET),
    ]


@pytest.mark.parametrize(
    ("text", "ppm"),
    [("99.99%", 999_900), ("99.95%", 999_500), ("99.9999%", 999_999), ("50%", 500_000)],
)
def test_a_percentage_becomes_parts_per_million_exactly(text: str, ppm: int) -> None:
    assert parse_percent(text, "x") == ppm


@pytest.mark.parametrize("text", ["99.99999%", "99.99", "abc%", "NaN%", 99.99])
def test_a_target_that_is_not_an_exact_percentage_is_refused(text: object) -> None:
    with pytest.raises(Rejected) as caught:
        parse_percent(text, "x")
    assert caught.value.code == "invalid_slo_config"


def test_a_file_replaces_the_slos_and_tunes_the_prober(tmp_path: Path) -> None:
    path = tmp_path / "slo.json"
    document = {
        "slos": [
            {"name": "success:payin", "kind": "success", "target": "99.9%", "per_sli": True},
            {"name": "latency:api", "kind": "latency", "target_ppm": 950_000,
             "threshold_ms": 250, "prefixes": ["/v1"]},
        ],
        "probe": {"interval_s": 10, "timeout_s": 2},
    }  # fmt: skip
    path.write_text(json.dumps(document))
    config = load_config(str(path))
    assert [s.name for s in config.slos] == ["success:payin", "latency:api"]
    assert config.slos[0].target_ppm == 999_000 and config.slos[0].per_sli
    assert config.route_family("/v1/payins") == config.slos[1]
    assert (config.probe.interval_s, config.probe.timeout_s) == (10.0, 2.0)


@pytest.mark.parametrize(
    "document",
    [
        {"slo": []},
        {"slos": [{"name": "a", "kind": "success", "target": "100%"}]},
        {"slos": [{"name": "a", "kind": "success", "target_ppm": 0}]},
        {"slos": [{"name": "a", "kind": "success", "target": "99%", "target_ppm": 990_000}]},
        {"slos": [{"name": "a", "kind": "success", "target": "99%", "budget": 1}]},
        {"slos": [{"name": "A b", "kind": "success", "target": "99%"}]},
        {"slos": [{"name": "a", "kind": "speed", "target": "99%"}]},
        {"slos": [{"name": "a", "kind": "latency", "target": "99%"}]},
        {"slos": [{"name": "a", "kind": "success", "target": "99%", "threshold_ms": 5}]},
        {"slos": [{"name": "a", "kind": "success", "target": "99%"}] * 2},
        {"probe": {"interval_s": 5, "timeout_s": 5}},
        {"probe": {"amount_minor": 0}},
        {"probe": {"enabled": "yes"}},
        [],
    ],
)
def test_a_wrong_or_unknown_setting_is_refused_not_defaulted(document: object) -> None:
    with pytest.raises(Rejected) as caught:
        parse_config(document)
    assert caught.value.code == "invalid_slo_config"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Rejected) as caught:
        load_config(str(tmp_path / "absent.json"))
    assert caught.value.code == "invalid_slo_config"


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/v1/payins", "latency:payments"),
        ("/v1/payins/pay_1/refunds", "latency:payments"),
        ("/v1/transfers", "latency:ledger"),
        ("/v1/bills/mch_1/2026-11.html", "latency:bills"),
        ("/healthz", "latency:ops"),
        ("/v1/payinsx", "latency:other"),
        ("/v1/merchants", "latency:other"),
    ],
)
def test_a_request_path_belongs_to_its_route_family(path: str, family: str) -> None:
    found = SloConfig().route_family(path)
    assert found is not None and found.name == family


# -- burn-rate rules (property tests) ----------------------------------------------------

targets = st.integers(min_value=1, max_value=PPM - 1)
counts = st.integers(min_value=0, max_value=10**6).flatmap(
    lambda total: st.builds(Counts, st.integers(min_value=0, max_value=total), st.just(total))
)


def _slo(target_ppm: int) -> Slo:
    return Slo("x", SloKind.AVAILABILITY, target_ppm)


@given(target=targets, long=counts, short=counts, pair=st.sampled_from(ALERT_WINDOWS))
def test_a_pair_fires_exactly_when_both_windows_burn_faster_than_its_factor(
    target: int, long: Counts, short: Counts, pair: WindowPair
) -> None:
    slo = _slo(target)
    verdict = judge(slo, pair, long=long, short=short)
    budget = Fraction(PPM - target, PPM)

    def over(c: Counts) -> bool:
        # bad/total > factor * budget, in integers: no division, no float
        return c.total > 0 and c.bad * budget.denominator * pair.factor.denominator > (
            pair.factor.numerator * budget.numerator * c.total
        )

    assert verdict.firing == (over(long) and over(short))


@given(target=targets, k=st.integers(min_value=1, max_value=1000))
def test_spending_errors_exactly_at_the_budget_is_a_burn_rate_of_one(target: int, k: int) -> None:
    total, bad = PPM * k, (PPM - target) * k
    assert burn_rate(Counts(total - bad, total), _slo(target)) == 1


@given(target=targets, c=counts, more_bad=st.integers(min_value=1, max_value=1000))
def test_more_bad_events_never_lower_the_burn_rate(target: int, c: Counts, more_bad: int) -> None:
    slo = _slo(target)
    assert burn_rate(Counts(c.good, c.total + more_bad), slo) >= burn_rate(c, slo)


@given(target=targets, pair=st.sampled_from(ALERT_WINDOWS), short=counts)
def test_a_window_without_events_never_fires(target: int, pair: WindowPair, short: Counts) -> None:
    verdict = judge(_slo(target), pair, long=Counts(), short=short)
    assert not verdict.firing and verdict.burn_long == 0
