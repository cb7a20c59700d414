"""Availability from the prober's records: per target and overall, exact, the same from
the function, the API and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from paycore.errors import Rejected
from paycore.ops import store
from paycore.ops.availability import availability, period_of
from paycore.ops.cli_slo import slo_app
from paycore.runtime import Runtime

START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=7)


def probe(engine: Engine, target: str, ok: bool, at: datetime) -> None:
    row = {"target": target, "node": "n1", "ok": ok, "latency_ms": 3, "error": "", "probed_at": at}
    with engine.begin() as conn:
        store.insert_probe(conn, row)


@pytest.fixture
def probed(engine: Engine) -> Engine:
    """In the week: payin:alpha 3 of 4 good, health 2 of 2; and one probe either side."""
    for minutes, ok in ((0, True), (30, False), (60, True), (90, True)):
        probe(engine, "payin:alpha", ok, START + timedelta(minutes=minutes))
    probe(engine, "health", True, START)
    probe(engine, "health", True, END - timedelta(microseconds=1))
    probe(engine, "health", False, START - timedelta(microseconds=1))
    probe(engine, "health", False, END)  # [start, end): the end is the next period's
    return engine


def test_availability_is_good_over_all_probes_per_target_and_overall(probed: Engine) -> None:
    found = availability(probed, start=START, end=END)
    assert [(t.target, t.good, t.total) for t in found.targets] == [
        ("health", 2, 2),
        ("payin:alpha", 3, 4),
    ]
    assert found.overall.ratio == Fraction(5, 6)
    assert found.overall.ppm == 833_333  # rounded down, never up to a target
    assert found.targets[1].ppm == 750_000


def test_a_period_without_probes_has_no_availability_rather_than_100_percent(
    engine: Engine,
) -> None:
    found = availability(engine, start=START, end=END)
    assert found.targets == () and found.overall.ratio is None and found.overall.ppm is None


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (END, START),
        (START, START),
        (START.replace(tzinfo=None), END),
        (START, START + timedelta(days=401)),
    ],
)
def test_a_reversed_zoneless_or_huge_period_is_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(Rejected) as caught:
        availability(None, start=start, end=end)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_period"


def test_the_api_and_the_cli_report_the_same_availability(
    probed: Engine, ops_client: TestClient, database_url: str, tmp_path: Path
) -> None:
    period = {"from": START.isoformat(), "to": END.isoformat()}
    answer = ops_client.get("/v1/ops/availability", params=period)
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path),
        "PAYCORE_BILLS_PROCESSES": "0",
    }
    printed = CliRunner().invoke(
        slo_app, ["availability", "--from", period["from"], "--to", period["to"]], env=env
    )
    assert answer.status_code == 200, answer.text
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == answer.json()
    assert answer.json()["overall"] == {
        "target": "*", "good": 5, "total": 6, "ratio": "5/6", "ppm": 833_333,
    }  # fmt: skip


def test_availability_over_http_needs_an_admin_key_and_a_valid_period(
    ops_client: TestClient, runtime: Runtime
) -> None:
    merchant, _ = runtime.merchants.create(name="shop")
    _key, clear = runtime.api_keys.issue(merchant_id=merchant.id)
    refused = ops_client.get("/v1/ops/availability", headers={"Authorization": f"Bearer {clear}"})
    reversed_period = ops_client.get(
        "/v1/ops/availability", params={"from": END.isoformat(), "to": START.isoformat()}
    )
    assert refused.status_code == 403
    assert reversed_period.status_code == 422
    assert reversed_period.json()["code"] == "invalid_period"


def test_the_period_defaults_to_the_last_seven_days() -> None:
    assert period_of(None, None, now=END) == (START, END)
    assert period_of(None, END.isoformat(), now=START) == (START, END)


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [
        (None, "0001-01-01T00:00:00+00:00"),  # seven days before it is no date
        ("yesterday", None),
        ("2026-03-02T00:00:00", None),
    ],
)
def test_a_period_that_is_no_instant_is_refused(date_from: str | None, date_to: str | None) -> None:
    with pytest.raises(Rejected) as caught:
        period_of(date_from, date_to, now=END)
    assert caught.value.code == "invalid_period"
