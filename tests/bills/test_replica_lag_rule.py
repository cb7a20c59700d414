"""The rule of replica lag (how stale a bill may be), and what the primary and SQLite report:
no lag. The real replica is in test_replica.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from paycore.bills import freshness
from paycore.bills.freshness import Freshness, ReplaySample, replay_lag_s

NOW = datetime(2026, 12, 1, 0, 0, 5, tzinfo=UTC)
ages_s = st.floats(min_value=0, max_value=86_400 * 30, allow_nan=False)


def _sample(
    *, replayed_age_s: float | None, behind: bool, streaming: bool, up_s: float = 3600
) -> ReplaySample:
    replayed_at = None if replayed_age_s is None else NOW - timedelta(seconds=replayed_age_s)
    return ReplaySample(
        now=NOW,
        replayed_at=replayed_at,
        started_at=NOW - timedelta(seconds=up_s),
        behind=behind,
        streaming=streaming,
    )


@given(age_s=ages_s)
def test_a_streaming_replica_with_nothing_left_to_replay_does_not_lag_however_quiet_the_primary(
    age_s: float,
) -> None:
    assert replay_lag_s(_sample(replayed_age_s=age_s, behind=False, streaming=True)) == 0


@given(age_s=ages_s, streaming=st.booleans())
def test_a_replica_behind_lags_by_the_age_of_the_last_transaction_it_replayed(
    age_s: float, streaming: bool
) -> None:
    sample = _sample(replayed_age_s=age_s, behind=True, streaming=streaming)
    assert replay_lag_s(sample) == (NOW - sample.replayed_at).total_seconds()  # type: ignore[operator]


@given(age_s=ages_s)
def test_a_replica_cut_off_from_its_primary_cannot_vouch_for_more_than_its_last_replay(
    age_s: float,
) -> None:
    sample = _sample(replayed_age_s=age_s, behind=False, streaming=False)
    assert replay_lag_s(sample) == (NOW - sample.replayed_at).total_seconds()  # type: ignore[operator]


def test_a_replica_that_has_replayed_nothing_since_it_started_is_at_least_as_old_as_its_start() -> (
    None
):
    assert replay_lag_s(_sample(replayed_age_s=None, behind=True, streaming=True, up_s=90)) == 90


def test_a_last_replay_stamped_ahead_of_the_replicas_clock_is_no_lag_not_a_negative_one() -> None:
    assert replay_lag_s(_sample(replayed_age_s=-2.5, behind=True, streaming=True)) == 0


@given(lag_s=ages_s)
def test_a_bill_is_as_of_its_clock_less_the_lag(lag_s: float) -> None:
    found = Freshness(in_recovery=True, lag_s=lag_s, bytes_behind=0)
    assert NOW - found.as_of(NOW) == timedelta(seconds=lag_s)


def test_bills_read_on_the_main_database_are_as_fresh_as_the_clock(engine: Engine) -> None:
    with engine.connect() as conn:
        assert freshness.measure(conn) == freshness.PRIMARY
        assert freshness.as_of(conn, NOW) == NOW


def test_metrics_show_no_replica_and_no_lag_when_bills_read_the_main_database(
    client: TestClient,
) -> None:
    gauges = {
        sample.name: sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
    }
    assert gauges["paycore_reports_in_recovery"] == 0
    assert gauges["paycore_reports_replica_lag_seconds"] == 0
    assert gauges["paycore_reports_replica_lag_bytes"] == 0
