# ruff: noqa: F811  (the fixtures of conftest_report.py are imported, then requested by name)
"""The weekly report on a seeded week (conftest_report.py) agrees with what the API and the
CLI say about the same days: success rates, availability and incidents."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from paycore.cli import app as paycore_app
from paycore.ops.cli_report import report_app
from paycore.ops.weekly import day_bounds, parse_week, percent_text
from tests.ops.conftest_report import (  # noqa: F401
    PREVIOUS,
    SHANGHAI,
    WEEK,
    Seeded,
    alpha,
    report_client,
    runtime,
    seeded,
)

COUNTS = ("succeeded", "unresolved", "unavailable")
FAILED = ("user", "merchant", "channel", "system")
Paycore = Callable[..., Result]


@pytest.fixture
def paycore(database_url: str, tmp_path: Path) -> Paycore:
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "cli-var"),
        "PAYCORE_CHANNELS_FILE": "",
        "PAYCORE_FIELD_KEYS": "",
        "COLUMNS": "250",
    }

    def run(app: Any, *args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env)

    return run


def _report(client: TestClient, week: str, lang: str = "zh") -> dict[str, Any]:
    answer = client.get(f"/v1/ops/reports/weekly/{week}.json", params={"lang": lang})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _rates(client: TestClient, week: str, per: str) -> list[dict[str, Any]]:
    parsed = parse_week(week)
    answer = client.get(
        "/v1/stats/success-rates",
        params={"date_from": str(parsed.monday), "date_to": str(parsed.sunday), "per": per},
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


def _sums(
    rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
) -> dict[Any, Counter[str]]:
    sums: dict[Any, Counter[str]] = {}
    for row in rows:
        total = sums.setdefault(key(row), Counter())
        total.update({name: row[name] for name in COUNTS})
        total.update({name: row["failed"][name] for name in FAILED})
    return sums


def _counts_of(line: dict[str, Any]) -> Counter[str]:
    counts = Counter({name: line[name] for name in COUNTS})
    counts.update({name: line["failed"][name] for name in FAILED})
    return +counts  # without zeros, like a Counter built from the API's rows


def _effective(counts: Counter[str]) -> str | None:
    counted = counts["succeeded"] + counts["channel"] + counts["system"]
    return percent_text(Fraction(counts["succeeded"], counted)) if counted else None


def test_every_product_rate_equals_the_success_rates_api_per_order_for_the_same_days(
    report_client: TestClient,
) -> None:
    report = _report(report_client, WEEK)
    api = _sums(_rates(report_client, WEEK, "order"), lambda row: row["kind"])

    for line in report["products"]:
        expected = +api.get(line["kind"], Counter())
        assert _counts_of(line) == expected, line["kind"]
        assert line["effective"] == _effective(expected)
    assert {line["kind"] for line in report["products"]} >= set(api)


def test_every_channel_rate_equals_the_success_rates_api_per_attempt(
    report_client: TestClient,
) -> None:
    report = _report(report_client, WEEK)
    api = _sums(_rates(report_client, WEEK, "attempt"), lambda r: (r["kind"], r["channel"]))

    mine = {(line["kind"], line["channel"]): _counts_of(line) for line in report["channels"]}
    assert mine == {key: +counts for key, counts in api.items()}


def test_the_daily_rates_of_the_chart_equal_the_api_day_by_day(report_client: TestClient) -> None:
    report = _report(report_client, WEEK)
    api = _sums(_rates(report_client, WEEK, "order"), lambda r: (r["kind"], r["day"]))
    days = [str(d) for d in parse_week(WEEK).days]

    for line in report["products"]:
        for day, cell in zip(days, line["daily"], strict=True):
            assert _counts_of(cell) == +api.get((line["kind"], day), Counter())


def test_availability_equals_the_availability_api_for_the_week_and_the_year(
    report_client: TestClient,
) -> None:
    report = _report(report_client, WEEK)["availability"]
    week = parse_week(WEEK)
    periods = {
        "week": day_bounds(week.monday, week.sunday, SHANGHAI),
        "year": day_bounds(week.year_start, week.sunday, SHANGHAI),
    }

    for name, (start, end) in periods.items():
        answer = report_client.get(
            "/v1/ops/availability", params={"from": start.isoformat(), "to": end.isoformat()}
        )
        overall = answer.json()["overall"]
        assert (report[name]["good"], report[name]["total"]) == (overall["good"], overall["total"])
    assert report["week"]["rate"] == "96.66%"  # 29 of 30 probes: 96.666...% rounded down


def _incidents(client: TestClient, start: datetime, end: datetime, **filters: str) -> list[Any]:
    answer = client.get(
        "/v1/ops/incidents",
        params={"from": start.isoformat(), "to": end.isoformat(), "limit": "500", **filters},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["next_cursor"] is None
    found: list[Any] = answer.json()["data"]
    return found


def test_the_incidents_are_those_the_incidents_api_lists_with_their_review(
    seeded: Seeded, report_client: TestClient
) -> None:
    week = parse_week(WEEK)
    start, end = day_bounds(week.monday, week.sunday, SHANGHAI)
    year_start, _ = day_bounds(week.year_start, week.year_start, SHANGHAI)

    report = _report(report_client, WEEK)["incidents"]

    listed = _incidents(report_client, start, end)
    assert [i["id"] for i in report["listed"]] == [i["id"] for i in reversed(listed)]
    assert [i["grade"] for i in report["listed"]] == [i["grade"] for i in reversed(listed)]
    year = {g: len(_incidents(report_client, year_start, end, grade=g)) for g in "ABCD"}
    awaiting = _incidents(report_client, year_start, end, awaiting_review="true")
    assert report["year"] == {
        "ab": year["A"] + year["B"],
        "cd": year["C"] + year["D"],
        "awaiting": len(awaiting),
    }
    assert report["year"] == {"ab": 1, "cd": 1, "awaiting": 1}


def test_an_incident_shows_its_review_or_that_it_awaits_one(
    seeded: Seeded, report_client: TestClient
) -> None:
    report = _report(report_client, WEEK)["incidents"]

    by_id = {i["id"]: i for i in report["listed"]}
    reviewed, awaiting = by_id[seeded.reviewed_id], by_id[seeded.awaiting_id]
    assert (reviewed["grade"], reviewed["grade_text"]) == ("C", "C级")
    assert reviewed["cause"] == "月末账单查询打满连接池"
    assert reviewed["handling"] == "账单查询限流并扩容连接池"
    assert reviewed["duration_s"] == 25 * 60
    assert awaiting["grade"] is None and awaiting["grade_text"].startswith("待复盘定级")
    assert "本周发生事故2次" in report["text"] and "1次待复盘定级后计入" in report["text"]


def test_the_change_from_the_previous_week_is_in_percentage_points_and_counts(
    report_client: TestClient,
) -> None:
    now, before = _report(report_client, WEEK), _report(report_client, PREVIOUS)

    payin_now, payin_before = (
        next(line for line in r["products"] if line["kind"] == "payin") for r in (now, before)
    )
    assert (payin_now["effective"], payin_before["effective"]) == ("75.00%", "80.00%")
    assert payin_now["effective_change_pp"] == "-5.00"
    assert payin_now["orders_change"] == f"{payin_now['orders'] - payin_before['orders']:+,d}"
    assert now["incidents"]["change"] == "+2"
    assert now["availability"]["change_pp"] == "-3.33"  # 96.666...% against 100%


def test_the_cli_writes_what_the_api_serves_in_every_format_and_language(
    seeded: Seeded, report_client: TestClient, paycore: Paycore, tmp_path: Path
) -> None:
    for form in ("md", "html", "json"):
        for lang in ("zh", "en"):
            out = tmp_path / f"weekly.{lang}.{form}"
            ran = paycore(
                report_app, "weekly", "--week", WEEK, "--format", form, "--lang", lang,
                "--out", str(out),
            )  # fmt: skip
            assert ran.exit_code == 0, ran.output
            served = report_client.get(f"/v1/ops/reports/weekly/{WEEK}.{form}?lang={lang}")
            written = out.read_text(encoding="utf-8")
            if form == "json":  # the same data; the API's JSON is not indented
                assert json.loads(written) == served.json(), lang
            else:
                assert written == served.text, (form, lang)


def test_the_report_counts_equal_the_payments_rates_command_for_the_same_days(
    report_client: TestClient, paycore: Paycore
) -> None:
    week = parse_week(WEEK)
    ran = paycore(
        paycore_app, "payments", "rates", "--from", str(week.monday), "--to", str(week.sunday),
        "--per-order",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    table: dict[str, Counter[str]] = {}
    for line in ran.output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)[1:-1]]
        if len(cells) == 13 and re.fullmatch(r"\d{4}-\d\d-\d\d", cells[0]):
            counts = table.setdefault(cells[1], Counter())
            counts.update(dict(zip(("succeeded", *FAILED), map(int, cells[4:9]), strict=True)))
    assert table, ran.output

    report = _report(report_client, WEEK)
    for line in report["products"]:
        counts = Counter({"succeeded": line["succeeded"], **line["failed"]})
        assert +counts == +table.get(line["kind"], Counter()), line["kind"]


def test_a_week_that_does_not_exist_is_refused_by_the_api_and_the_cli(
    report_client: TestClient, paycore: Paycore
) -> None:
    answer = report_client.get("/v1/ops/reports/weekly/2025-W53.md")
    ran = paycore(report_app, "weekly", "--week", "2026-W54")

    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_week"
    assert ran.exit_code == 2
    assert "invalid_week" in ran.output


def test_a_merchant_key_cannot_read_the_weekly_report(
    seeded: Seeded, report_client: TestClient
) -> None:
    _key, clear = seeded.runtime.api_keys.issue(merchant_id=seeded.merchant_id, scopes=None)
    answer = report_client.get(
        f"/v1/ops/reports/weekly/{WEEK}.json", headers={"Authorization": f"Bearer {clear}"}
    )
    assert answer.status_code == 403
