"""A report's chart as SVG: grouped bars, one group per value of the report's x column and
one bar per series, each the sum of the series over the rows with that x. Drawn in the
bills' charts' frame (bills/chart.py: size, font, value axis of 1, 2 or 5 steps), with
integers up to the pixel: a bar's height is `value * plot_height // top`.

A report with a currency column is drawn for one currency (money of two currencies in one
bar would mean nothing): the one asked for, else CNY when present, else the first.
"""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any

import pyarrow as pa

from paycore.bills.chart import FONT, HEIGHT, WIDTH, nice_top
from paycore.errors import Rejected
from paycore.warehouse.reports import Report

COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#ef6c00")
LABELS_MAX = 12
"""At most this many x labels are written under the bars; the others stay in the tips."""
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 6, 26, 22
_LEGEND_STEP = 150


def chart_svg(report: Report, table: pa.Table, *, currency: str | None = None) -> str:
    if report.chart is None:
        raise Rejected("report_has_no_chart", f"{report.name}: use --format csv, xlsx or table")
    rows = table.to_pylist()
    shown = _currency(rows, currency) if "currency" in table.column_names else None
    if shown is not None:
        rows = [r for r in rows if r["currency"] == shown]
    groups: dict[str, list[int]] = {}
    for row in rows:
        label = _label(row[report.chart.x])
        sums = groups.setdefault(label, [0] * len(report.chart.series))
        for n, column in enumerate(report.chart.series):
            sums[n] += row[column] or 0
    title = report.title_en + (f" ({shown})" if shown else "")
    return _bars(groups, report.chart.series, title=title, chart=report.name)


def _currency(rows: list[dict[str, Any]], asked: str | None) -> str | None:
    present = sorted({r["currency"] for r in rows})
    if asked is not None:
        if asked not in present:
            raise Rejected("currency_not_in_report", f"{asked!r}: the report has {present}")
        return asked
    if not present:
        return None
    return "CNY" if "CNY" in present else present[0]


def _label(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _bars(groups: dict[str, list[int]], series: tuple[str, ...], *, title: str, chart: str) -> str:
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    largest = max((max(v) for v in groups.values()), default=0)
    top, step = nice_top(largest)
    slot = plot_w // max(len(groups), 1)
    bar = max((slot * 4 // 5) // max(len(series), 1), 1)
    every = -(-len(groups) // LABELS_MAX)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{escape(chart)}" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" font-family="{FONT}" font-size="12">',
        f"<title>{escape(title)}</title>",
    ]
    for n, name in enumerate(series):
        x = _LEFT + n * _LEGEND_STEP
        parts.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{COLOURS[n % len(COLOURS)]}"/>'
            f'<text x="{x + 18}" y="16" fill="#333">{escape(name)}</text>'
        )
    for value in range(0, top + 1, step):
        y = _TOP + plot_h - value * plot_h // top
        parts.append(
            f'<line x1="{_LEFT}" y1="{y}" x2="{WIDTH - _RIGHT}" y2="{y}" stroke="#ddd"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4}" text-anchor="end" fill="#555">{value:,}</text>'
        )
    for g, (label, values) in enumerate(groups.items()):
        x0 = _LEFT + g * slot + (slot - bar * len(series)) // 2
        for n, value in enumerate(values):
            height = max(value, 0) * plot_h // top
            tip = f"{label} {series[n]} {value:,}"
            parts.append(
                f'<rect x="{x0 + n * bar}" y="{_TOP + plot_h - height}" width="{bar}" '
                f'height="{height}" fill="{COLOURS[n % len(COLOURS)]}" data-value="{value}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        if g % every == 0:
            short = label[-5:] if len(label) == 10 and label[4] == "-" else label[:12]
            parts.append(
                f'<text x="{_LEFT + g * slot + slot // 2}" y="{HEIGHT - 8}" '
                f'text-anchor="middle" fill="#333">{escape(short)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
