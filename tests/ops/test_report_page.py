# ruff: noqa: RUF001  (the seed's Chinese punctuation)
"""The weekly report in words and charts, from reports built by hand."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from paycore.errors import Rejected
from paycore.ops.model import Grade, Impact, Incident, IncidentStatus
from paycore.ops.report_page import render, report_view
from paycore.ops.weekly import (
    GradeCounts,
    ProductLine,
    Ratio,
    Tally,
    WeeklyReport,
    parse_week,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = parse_week("2026-W49")
EMPTY = (Tally(),) * 7


def incident(summary: str, grade: Grade | None, **changes: object) -> Incident:
    opened = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    made = Incident(
        id="inc_1",
        key="bills_pool",
        kind="bills_pool_saturated",
        status=IncidentStatus.REVIEWED if grade else IncidentStatus.RESOLVED,
        summary=summary,
        opened_at=opened,
        closed_at=datetime(2026, 12, 2, 7, 5, tzinfo=UTC),
        impact=Impact(),
        auto_grade=Grade.C,
        grade=grade,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def seed_like(**changes: object) -> WeeklyReport:
    """The seed's week: 99.99% / 99.95%, availability 100%, no graded incident this year,
    one incident this week awaiting review."""
    daily = (Tally(succeeded=9_999, failed_channel=1), *EMPTY[1:])
    report = WeeklyReport(
        week=WEEK,
        complete=True,
        products=(
            ProductLine(
                "payin",
                Tally(succeeded=9_999, failed_channel=1, failed_user=7),
                Tally(succeeded=9_998, failed_system=2),
                daily,
                999_900,
            ),
            ProductLine(
                "payout", Tally(succeeded=1_999, failed_channel=1), Tally(), EMPTY, 999_500
            ),
            ProductLine("refund", Tally(), Tally(), EMPTY, 999_500),
        ),
        channels=(),
        availability=Ratio(1_000, 1_000),
        availability_previous=Ratio(999, 1_000),
        availability_year=Ratio(50_000, 50_000),
        availability_daily=(Ratio(100, 100), Ratio(), *(Ratio(150, 150),) * 5),
        availability_target_ppm=999_900,
        incidents=(incident("商户账单查询性能故障", None),),
        incidents_total=1,
        incidents_previous=0,
        year=GradeCounts(0, 0, 1),
    )
    return replace(report, **changes)  # type: ignore[arg-type]


def test_the_chinese_markdown_says_what_the_seed_says() -> None:
    text = render(seed_like(), form="md", lang="zh", zone=SHANGHAI)

    assert "## 【系统运行数据】 2026-W49（2026-11-30 至 2026-12-06）" in text
    assert "- 入金有效成功率：99.99%（目标 99.99%，达标；原始成功率 99.92%" in text
    assert "- 出金有效成功率：99.95%（目标 99.95%，达标" in text
    assert "- 支付系统年度可用性：100.00%（目标 99.99%，达标）" in text
    assert (
        "事故数AB级0次，CD级0次。本周发生事故1次"
        "（商户账单查询性能故障（待复盘定级，自动评级 C）），1次待复盘定级后计入。"
    ) in text
    assert "较上周 +0.01 个百分点" in text  # 99.99% against 99.98%
    assert "订单 2,000 笔，较上周 +2,000" in text


def test_the_english_markdown_says_the_same_in_english() -> None:
    text = render(seed_like(), form="md", lang="en", zone=SHANGHAI)

    assert "Pay-in effective success rate: 99.99% (SLO 99.99%, met" in text
    assert "Payment system availability this year: 100.00% (SLO 99.99%, met)" in text
    assert "awaiting review" in text and "待复盘" not in text.replace("商户账单查询性能故障", "")


def test_a_missed_slo_is_said_and_a_product_without_orders_has_no_rate() -> None:
    slow = ProductLine("payin", Tally(succeeded=19_997, failed_channel=3), Tally(), EMPTY, 999_900)
    report = seed_like(products=(slow, ProductLine("refund", Tally(), Tally(), EMPTY, None)))

    text = render(report, form="md", lang="zh", zone=SHANGHAI)

    assert "入金有效成功率：99.98%（目标 99.99%，未达标" in text  # 99.985% is not 99.99%
    assert "退款有效成功率：—" in text


def test_a_reviewed_incident_shows_its_grade_cause_and_handling_and_counts_in_the_year() -> None:
    reviewed = incident("账单池耗尽 | 月末", Grade.B, cause="连接池打满", handling="限流")
    report = seed_like(incidents=(reviewed,), year=GradeCounts(1, 0, 0))

    text = render(report, form="md", lang="zh", zone=SHANGHAI)

    assert (
        "事故数AB级1次，CD级0次。本周发生事故1次（账单池耗尽 | 月末（B级）），已定级计入。" in text
    )
    assert (
        "| inc_1 | B级 | 12-02 14:00 | 1小时5分 | 账单池耗尽 \\| 月末 | 连接池打满 | 限流 |" in text
    )


def test_a_week_without_incidents_says_so_with_the_change() -> None:
    report = seed_like(incidents=(), incidents_total=0, incidents_previous=2)

    zh = render(report, form="md", lang="zh", zone=SHANGHAI)

    assert "本周未发生事故（较上周 -2）。" in zh
    assert "本周事故" not in zh


def test_a_week_not_over_says_its_figures_are_so_far() -> None:
    text = render(seed_like(complete=False), form="md", lang="en", zone=SHANGHAI)

    assert "This week is not over" in text
    assert "本周尚未结束" not in text


def test_the_html_page_has_the_week_charts_inline() -> None:
    page = render(seed_like(), form="html", lang="zh", zone=SHANGHAI)

    charts = re.findall(r'<svg [^>]*class="chart chart-(\w+)"', page)
    assert charts == ["rates", "availability"]
    availability = page[page.index("chart-availability") :]
    # six days with probes (one without: no point, and the line breaks there)
    assert len(re.findall(r'<circle [^>]*data-ppm="1000000"', availability)) == 6
    assert 'class="slo"' in availability
    rates = page[page.index("chart-rates") : page.index("chart-availability")]
    assert re.findall(r'<circle [^>]*data-ppm="(\d+)"', rates) == ["999900"]


def test_the_html_page_escapes_what_an_incident_says() -> None:
    report = seed_like(incidents=(incident("<script>alert(1)</script>", None),))

    page = render(report, form="html", lang="en", zone=SHANGHAI)

    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_a_higher_rate_is_drawn_higher() -> None:
    days = (
        Tally(succeeded=99, failed_channel=1),
        Tally(succeeded=999, failed_channel=1),
        *EMPTY[2:],
    )
    report = seed_like(products=(ProductLine("payin", Tally(), Tally(), days, 999_900),))

    page = render(report, form="html", lang="en", zone=SHANGHAI)

    ys = [int(y) for y in re.findall(r'<circle [^>]*cy="(\d+)"', page)[:2]]
    assert ys[1] < ys[0]


def test_the_json_view_carries_exact_counts_beside_every_rate() -> None:
    view = report_view(seed_like(), lang="en", zone=SHANGHAI)

    payin = view["products"][0]
    assert (payin["succeeded"], payin["counted"], payin["decided"]) == (9_999, 10_000, 10_007)
    assert payin["effective"] == "99.99%" and payin["verdict"] == "met"
    assert view["availability"]["year"] == {"good": 50_000, "total": 50_000, "rate": "100.00%"}
    assert view["incidents"]["listed"][0]["grade"] is None


@pytest.mark.parametrize(("form", "lang", "code"), [("pdf", "zh", "invalid_format"),
                                                    ("md", "fr", "invalid_lang")])  # fmt: skip
def test_an_unknown_format_or_language_is_refused(form: str, lang: str, code: str) -> None:
    with pytest.raises(Rejected) as refused:
        render(seed_like(), form=form, lang=lang, zone=SHANGHAI)
    assert refused.value.code == code
