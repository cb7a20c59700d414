"""The weekly report's charts as inline SVG, in the bills' charts' frame (bills/chart.py:
its size, font and value axis of 1, 2 or 5 steps). A rate is drawn from its exact value
rounded down to parts per million, so a point and its axis are integers up to the pixel.

The value axis runs from 100% down to just below the lowest point or SLO target: rates
near 99.99% would all sit on one line of an axis from 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from html import escape

from paycore.bills.chart import FONT, HEIGHT, WIDTH, nice_top
from paycore.ops.weekly import PPM, percent_text

_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 6, 26, 22
_LEGEND_STEP = 110


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a value per label (None: no data that day) and its SLO, if any."""

    name: str
    colour: str
    points: tuple[Fraction | None, ...]
    target_ppm: int | None = None


def _ppm(rate: Fraction) -> int:
    return rate.numerator * PPM // rate.denominator


def _axis(series: Sequence[Series]) -> tuple[int, int]:
    """(bottom, step) in ppm: 100% at the top, `bottom` at or below every point and target."""
    values = [_ppm(p) for s in series for p in s.points if p is not None]
    values += [s.target_ppm for s in series if s.target_ppm is not None]
    span, step = nice_top(PPM - min(values, default=PPM))
    return PPM - span, step


def _tick_text(value_ppm: int, step_ppm: int) -> str:
    """As many decimals as the step needs: a step of 20 ppm is 0.002%."""
    decimals = 4
    while decimals and step_ppm % 10 ** (5 - decimals) == 0:
        decimals -= 1
    return percent_text(Fraction(value_ppm, PPM), decimals) or ""


def rates_chart(series: Sequence[Series], labels: Sequence[str], *, title: str, chart: str) -> str:
    """Lines of rates per day, one per series, with each series' SLO as a dashed line."""
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    bottom, step = _axis(series)
    span = PPM - bottom
    slot = plot_w // max(len(labels), 1)

    def x_of(n: int) -> int:
        return _LEFT + n * slot + slot // 2

    def y_of(value_ppm: int) -> int:
        return _TOP + plot_h - (value_ppm - bottom) * plot_h // span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{chart}" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" font-family="{FONT}" font-size="12">',
        f"<title>{escape(title)}</title>",
    ]
    parts.extend(_frame(bottom, step, labels, x_of, y_of))
    for index, line in enumerate(series):
        parts.extend(_legend(index, line))
        if line.target_ppm is not None:
            y = y_of(line.target_ppm)
            parts.append(
                f'<line class="slo" x1="{_LEFT}" y1="{y}" x2="{WIDTH - _RIGHT}" y2="{y}" '
                f'stroke="{line.colour}" stroke-dasharray="4 3" stroke-opacity="0.6"/>'
            )
        parts.extend(_line(line, labels, x_of, y_of))
    parts.append("</svg>")
    return "".join(parts)


def _frame(
    bottom: int,
    step: int,
    labels: Sequence[str],
    x_of: Callable[[int], int],
    y_of: Callable[[int], int],
) -> list[str]:
    """The value axis's lines and ticks, and the day labels under the plot."""
    parts = []
    for value in range(bottom, PPM + 1, step):
        y = y_of(value)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y}" x2="{WIDTH - _RIGHT}" y2="{y}" stroke="#ddd"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4}" text-anchor="end" fill="#555">'
            f"{escape(_tick_text(value, step))}</text>"
        )
    for n, label in enumerate(labels):
        parts.append(
            f'<text x="{x_of(n)}" y="{HEIGHT - 8}" text-anchor="middle" fill="#333">'
            f"{escape(label)}</text>"
        )
    return parts


def _legend(index: int, line: Series) -> list[str]:
    x = _LEFT + index * _LEGEND_STEP
    return [
        f'<rect x="{x}" y="6" width="12" height="12" fill="{line.colour}"/>'
        f'<text x="{x + 18}" y="16" fill="#333">{escape(line.name)}</text>'
    ]


def _line(
    line: Series, labels: Sequence[str], x_of: Callable[[int], int], y_of: Callable[[int], int]
) -> list[str]:
    """The points with data, joined where consecutive days both have one."""
    out: list[str] = []
    run: list[str] = []
    for n, (point, label) in enumerate(zip(line.points, labels, strict=True)):
        if point is None:
            out.extend(_polyline(run, line.colour))
            run = []
            continue
        value = _ppm(point)
        x, y = x_of(n), y_of(value)
        run.append(f"{x},{y}")
        tip = f"{label} {line.name} {percent_text(point)}"
        out.append(
            f'<circle cx="{x}" cy="{y}" r="3" fill="{line.colour}" data-ppm="{value}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    out.extend(_polyline(run, line.colour))
    return out


def _polyline(run: list[str], colour: str) -> list[str]:
    if len(run) < 2:
        return []
    points = " ".join(run)
    return [f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>']
