"""The bill's two charts as inline SVG, drawn on the server: the same markup is in the HTML
page, its PDF and any mail client, with no script to run. Money stays integer minor units
up to the pixel: a bar's height is `amount * plot_height // top`, exact and reproducible.
Money is printed for people here too (`money_text`), in the bill's language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from babel.numbers import format_compact_currency, format_currency

from paycore.money import to_major

LOCALES = {"zh": "zh_CN", "en": "en_US"}

IN_COLOUR = "#2e7d32"
OUT_COLOUR = "#c62828"
FONT = "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif"

WIDTH = 480  # drawn small and scaled: its text stays legible at half an A4 page's width
HEIGHT = 200
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 6, 26, 22
TICKS_MAX = 5


@dataclass(frozen=True, slots=True)
class Flow:
    """Money in and out of one bar's period (a day or a month), minor units, both >= 0."""

    label: str  # 2026-11-03 or 2026-11
    amount_in: int
    amount_out: int


def money_text(amount_minor: int, currency: str, lang: str) -> str:
    """`123456, 'CNY', 'zh'` -> `¥1,234.56`: with the currency's own decimals."""
    return format_currency(to_major(amount_minor, currency), currency, locale=LOCALES[lang])


def _axis_text(amount_minor: int, currency: str, lang: str) -> str:
    major = to_major(amount_minor, currency)
    if abs(major) < 10_000:
        return format_currency(
            major, currency, locale=LOCALES[lang], format="¤#,##0.##", currency_digits=False
        )
    return format_compact_currency(major, currency, locale=LOCALES[lang], fraction_digits=1)


def nice_top(largest: int) -> tuple[int, int]:
    """(top, step) of the value axis: a step of 1, 2 or 5 times a power of ten, at most
    TICKS_MAX steps, top = steps * step >= largest. Integers all the way."""
    if largest <= 0:
        return 1, 1
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            steps = -(-largest // step)
            if steps <= TICKS_MAX:
                return steps * step, step
        magnitude *= 10


def daily_chart(days: Sequence[Flow], currency: str, lang: str) -> str:
    """Money in and out per day of the month: two bars a day."""
    ticks = {1, 5, 10, 15, 20, 25, len(days)}
    labels = [str(int(d.label[-2:])) if n + 1 in ticks else "" for n, d in enumerate(days)]
    title = "每日收支" if lang == "zh" else "Money in and out per day"
    return _bars(days, labels, currency, lang, title=title, chart="daily", highlight=None)


def months_chart(months: Sequence[Flow], currency: str, lang: str) -> str:
    """This month (the last bar) against up to 11 months before it."""
    labels = [_month_label(m.label, lang) for m in months]
    title = "本月与前几个月" if lang == "zh" else "This month against the months before"
    return _bars(
        months, labels, currency, lang, title=title, chart="months", highlight=len(months) - 1
    )


def _month_label(label: str, lang: str) -> str:
    year, month = int(label[:4]), int(label[5:7])
    if lang == "zh":
        return f"{month}月"
    return date(year, month, 1).strftime("%b")


def _bars(
    flows: Sequence[Flow],
    labels: Sequence[str],
    currency: str,
    lang: str,
    *,
    title: str,
    chart: str,
    highlight: int | None,
) -> str:
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    largest = max((max(f.amount_in, f.amount_out) for f in flows), default=0)
    top, step = nice_top(largest)
    slot = plot_w // max(len(flows), 1)
    bar = max(slot * 2 // 5, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{chart}" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" font-family="{FONT}" font-size="12">',
        f"<title>{escape(title)}</title>",
        *_legend(lang),
    ]
    for value in range(0, top + 1, step):
        y = _TOP + plot_h - value * plot_h // top
        parts.append(
            f'<line x1="{_LEFT}" y1="{y}" x2="{WIDTH - _RIGHT}" y2="{y}" stroke="#ddd"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4}" text-anchor="end" fill="#555">'
            f"{escape(_axis_text(value, currency, lang))}</text>"
        )
    for n, (flow, label) in enumerate(zip(flows, labels, strict=True)):
        x = _LEFT + n * slot + (slot - 2 * bar) // 2
        weight = ' font-weight="bold"' if n == highlight else ""
        for offset, amount, colour, word in (
            (0, flow.amount_in, IN_COLOUR, "in"),
            (bar, flow.amount_out, OUT_COLOUR, "out"),
        ):
            height = amount * plot_h // top
            tip = f"{flow.label} {word} {money_text(amount, currency, lang)}"
            parts.append(
                f'<rect x="{x + offset}" y="{_TOP + plot_h - height}" width="{bar}" '
                f'height="{height}" fill="{colour}" data-amount="{amount}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        if label:
            parts.append(
                f'<text x="{x + bar}" y="{HEIGHT - 8}" text-anchor="middle" fill="#333"{weight}>'
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _legend(lang: str) -> list[str]:
    words = ("收入", "支出") if lang == "zh" else ("Money in", "Money out")
    out = []
    for n, (word, colour) in enumerate(zip(words, (IN_COLOUR, OUT_COLOUR), strict=True)):
        x = _LEFT + n * 100
        out.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 18}" y="16" fill="#333">{escape(word)}</text>'
        )
    return out
