"""The weekly report in words: a JSON-ready view of a `WeeklyReport`, poured into the
Markdown or HTML template (ops/templates). Chinese by default, English with lang="en".

Every rate in the view carries its counts beside its text (`succeeded` of `counted`), so
the JSON form has the exact figure and the page the readable one, rounded down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from paycore.bills.chart import IN_COLOUR, OUT_COLOUR
from paycore.errors import Rejected
from paycore.ops.model import Incident
from paycore.ops.report_chart import Series, rates_chart
from paycore.ops.report_words import WORDS
from paycore.ops.weekly import (
    PPM,
    ChannelLine,
    ProductLine,
    Ratio,
    Tally,
    WeeklyReport,
    change_pp,
    change_pp_text,
    count_change_text,
    percent_text,
)

LANGS = ("zh", "en")
FORMATS = ("md", "html", "json")
KIND_COLOURS = {"payin": IN_COLOUR, "payout": OUT_COLOUR, "refund": "#1565c0"}

_templates = Environment(
    loader=PackageLoader("paycore.ops", "templates"),
    # HTML is escaped; Markdown is text, its table cells go through `cell`.
    autoescape=lambda name: name is not None and name.endswith(".html.j2"),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _cell(text: object) -> str:
    """Text in a Markdown table cell: one line, and a `|` that does not end the cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


_templates.filters["cell"] = _cell


def check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise Rejected("invalid_lang", f"lang is one of {', '.join(LANGS)}, got {lang!r}")


def check_format(form: str) -> None:
    if form not in FORMATS:
        raise Rejected("invalid_format", f"format is one of {', '.join(FORMATS)}, got {form!r}")


def render(report: WeeklyReport, *, form: str, lang: str, zone: ZoneInfo) -> str:
    """The report as Markdown, one self-contained HTML page (charts inline), or JSON text."""
    check_format(form)
    view = report_view(report, lang=lang, zone=zone)
    if form == "json":
        return json.dumps(view, ensure_ascii=False, indent=2) + "\n"
    charts = _charts(report, lang) if form == "html" else {}
    template = _templates.get_template(f"weekly.{form}.j2")
    return template.render(view=view, w=WORDS[lang], charts=charts)


@dataclass(frozen=True, slots=True)
class _Style:
    w: dict[str, Any]
    decimals: int
    zone: ZoneInfo

    def pct(self, rate: Fraction | None) -> str | None:
        return percent_text(rate, self.decimals)

    def pct_or_none(self, rate: Fraction | None) -> str:
        return self.pct(rate) or str(self.w["none"])

    def pp(self, now: Fraction | None, before: Fraction | None) -> str | None:
        return change_pp_text(change_pp(now, before), self.decimals)

    def target(self, target_ppm: int | None) -> str | None:
        return None if target_ppm is None else self.pct(Fraction(target_ppm, PPM))

    def paren(self, text: str, parts: list[str | None]) -> str:
        inner = self.w["separator"].join(p for p in parts if p)
        return str(self.w["paren"].format(text=text, inner=inner))


def report_view(report: WeeklyReport, *, lang: str, zone: ZoneInfo) -> dict[str, Any]:
    """Everything the templates show, JSON-ready: exact counts beside every rate's text."""
    check_lang(lang)
    style = _Style(WORDS[lang], report.decimals, zone)
    week = report.week
    period = style.w["period"].format(week=week.label, start=week.monday, end=week.sunday)
    return {
        "week": week.label,
        "lang": lang,
        "from": week.monday.isoformat(),
        "to": week.sunday.isoformat(),
        "complete": report.complete,
        "title": f"{style.w['section']} {period}",
        "products": [_product(line, style) for line in report.products],
        "channels": [_channel(line, style) for line in report.channels],
        "availability": _availability(report, style),
        "incidents": _incidents(report, style),
    }


def _counts(tally: Tally, style: _Style) -> dict[str, Any]:
    return {
        "succeeded": tally.succeeded,
        "failed": {
            "user": tally.failed_user,
            "merchant": tally.failed_merchant,
            "channel": tally.failed_channel,
            "system": tally.failed_system,
        },
        "unresolved": tally.unresolved,
        "unavailable": tally.unavailable,
        "counted": tally.counted,
        "decided": tally.decided,
        "effective": style.pct(tally.effective),
        "raw": style.pct(tally.raw),
    }


def _product(line: ProductLine, style: _Style) -> dict[str, Any]:
    w = style.w
    orders = line.week.decided + line.week.unresolved
    before = line.previous.decided + line.previous.unresolved
    view = {
        "kind": line.kind,
        "name": w["kind"].get(line.kind, line.kind),
        **_counts(line.week, style),
        "orders": orders,
        "orders_change": count_change_text(orders, before),
        "effective_change_pp": style.pp(line.week.effective, line.previous.effective),
        "raw_change_pp": style.pp(line.week.raw, line.previous.raw),
        "target": style.target(line.target_ppm),
        "verdict": line.verdict.value,
        "daily": [
            {"effective": style.pct(day.effective), **_counts(day, style)} for day in line.daily
        ],
    }
    change = view["effective_change_pp"]
    text = w["effective_line"].format(
        kind=view["name"], rate=style.pct_or_none(line.week.effective)
    )
    view["text"] = style.paren(
        text,
        [
            w["slo"].format(target=view["target"], verdict=w["verdict"][line.verdict])
            if view["target"]
            else None,
            w["raw"].format(rate=style.pct_or_none(line.week.raw)),
            w["change"].format(pp=change) if change else None,
            w["orders"].format(count=f"{orders:,}", change=view["orders_change"]),
        ],
    )
    return view


def _channel(line: ChannelLine, style: _Style) -> dict[str, Any]:
    return {
        "kind": line.kind,
        "name": style.w["kind"].get(line.kind, line.kind),
        "channel": line.channel,
        **_counts(line.week, style),
        "effective_change_pp": style.pp(line.week.effective, line.previous.effective),
        "target": style.target(line.target_ppm),
        "verdict": line.verdict.value,
        "verdict_text": style.w["verdict"][line.verdict],
    }


def _ratio(ratio: Ratio, style: _Style) -> dict[str, Any]:
    return {"good": ratio.good, "total": ratio.total, "rate": style.pct(ratio.value)}


def _availability(report: WeeklyReport, style: _Style) -> dict[str, Any]:
    w = style.w
    target = style.target(report.availability_target_ppm)
    change = style.pp(report.availability.value, report.availability_previous.value)
    week_verdict, year_verdict = report.availability_verdict, report.availability_year_verdict
    week_rate = style.pct_or_none(report.availability.value)
    year_rate = style.pct_or_none(report.availability_year.value)
    return {
        "week": _ratio(report.availability, style),
        "previous": _ratio(report.availability_previous, style),
        "change_pp": change,
        "year": _ratio(report.availability_year, style),
        "daily": [_ratio(r, style) for r in report.availability_daily],
        "target": target,
        "verdict": week_verdict.value,
        "year_verdict": year_verdict.value,
        "week_text": style.paren(
            w["week_availability"].format(rate=week_rate),
            [
                w["slo"].format(target=target, verdict=w["verdict"][week_verdict]),
                w["change"].format(pp=change) if change else None,
            ],
        ),
        "year_text": style.paren(
            w["year_availability"].format(rate=year_rate),
            [w["slo"].format(target=target, verdict=w["verdict"][year_verdict])],
        ),
    }


def _incidents(report: WeeklyReport, style: _Style) -> dict[str, Any]:
    w = style.w
    listed = [_incident(i, style) for i in report.incidents]
    awaiting = sum(1 for i in report.incidents if i.grade is None)
    sentence = w["year_counts"].format(ab=report.year.ab, cd=report.year.cd)
    change = count_change_text(report.incidents_total, report.incidents_previous)
    if report.incidents_total == 0:
        sentence += w["no_incidents"].format(change=change)
    else:
        items = [
            w["incident_item"].format(summary=i["summary"], grade=i["grade_text"]) for i in listed
        ]
        hidden = report.incidents_total - len(listed)
        if hidden:
            items.append(w["more"].format(count=hidden))
        sentence += w["week_incidents"].format(
            count=report.incidents_total, summaries=w["separator"].join(items)
        )
        sentence += w["awaiting_tail"].format(count=awaiting) if awaiting else w["all_graded"]
    return {
        "listed": listed,
        "total": report.incidents_total,
        "previous": report.incidents_previous,
        "change": change,
        "year": {"ab": report.year.ab, "cd": report.year.cd, "awaiting": report.year.awaiting},
        "text": sentence,
    }


def _incident(incident: Incident, style: _Style) -> dict[str, Any]:
    w = style.w
    grade = incident.grade.value if incident.grade else None
    auto = incident.auto_grade.value
    grade_text = (
        w["grade"].format(grade=grade)
        if grade
        else w["awaiting"] + w["auto_grade"].format(grade=auto)
    )
    return {
        "id": incident.id,
        "kind": incident.kind,
        "status": incident.status.value,
        "summary": incident.summary,
        "grade": grade,
        "auto_grade": auto,
        "grade_text": grade_text,
        "opened_at": incident.opened_at.isoformat(),
        "opened_text": _local(incident.opened_at, style.zone),
        "duration_s": incident.duration_s,
        "duration_text": _duration(incident.duration_s, w),
        "cause": incident.cause or w["none"],
        "handling": incident.handling or w["none"],
    }


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%m-%d %H:%M")


def _duration(seconds: int | None, w: dict[str, Any]) -> str:
    if seconds is None:
        return str(w["ongoing"])
    hours, rest = divmod(seconds, 3600)
    long, short = w["duration"]
    if hours:
        return str(long.format(h=hours, m=rest // 60))
    return str(short.format(m=rest // 60, s=rest % 60))


def _charts(report: WeeklyReport, lang: str) -> dict[str, Markup]:
    """Daily effective success rate per product; daily availability. Each with its SLO."""
    w = WORDS[lang]
    labels = [d.strftime("%m-%d") for d in report.week.days]
    products = [
        Series(
            name=w["kind"].get(line.kind, line.kind),
            colour=KIND_COLOURS.get(line.kind, "#555"),
            points=tuple(day.effective for day in line.daily),
            target_ppm=line.target_ppm,
        )
        for line in report.products
    ]
    availability = Series(
        name=w["availability_name"],
        colour=IN_COLOUR,
        points=tuple(r.value for r in report.availability_daily),
        target_ppm=report.availability_target_ppm,
    )
    rates = rates_chart(products, labels, title=w["rate_chart"], chart="rates")
    up = rates_chart([availability], labels, title=w["availability_chart"], chart="availability")
    return {"rates": Markup(rates), "availability": Markup(up)}
