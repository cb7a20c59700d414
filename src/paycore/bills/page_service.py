"""Gathering and rendering the bill page: the statement from the bills service, the facts
around it from `page_store` (on the bills' read pool), the merchant's name and fee; then
the one Jinja2 template that is both the HTML page and, through WeasyPrint, the PDF."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import Connection

from paycore.bills import page_store, store
from paycore.bills.chart import Flow, daily_chart, months_chart
from paycore.bills.model import (
    BILL_ZONE,
    MONTHS_SHOWN_MAX,
    Statement,
    bill_day_of,
    month_of,
    month_period,
    previous_month,
)
from paycore.bills.page import BillView, PageFacts, bill_view, flows_of, month_flow
from paycore.bills.page_words import WORDS, check_lang
from paycore.bills.service import Bills
from paycore.errors import Rejected
from paycore.merchants.service import Merchants

_templates = Environment(
    loader=PackageLoader("paycore.bills", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class BillPages:
    """The plain-language bill of a merchant (or one wallet owner inside it) for a month.

    Its charts need the month day by day and up to 11 months before it. Closed days come
    from the day rollups in one query (O(days)); only days not closed yet (today, or a
    journal whose days were never closed) are asked of the statement service one by one,
    so the chart always agrees with the statements."""

    def __init__(self, bills: Bills, merchants: Merchants) -> None:
        self.bills = bills
        self.merchants = merchants

    def view(
        self, merchant_id: str, month: str, *, owner_id: str | None = None, lang: str = "zh"
    ) -> BillView:
        check_lang(lang)
        period = month_period(month)
        merchant = self.merchants.get(merchant_id)
        if merchant is None:
            raise Rejected("merchant_not_found", f"no merchant {merchant_id}")
        statement = self.bills.statement(merchant_id, month, owner_id=owner_id)
        first_month = month_of(merchant.created_at.astimezone(BILL_ZONE).date())
        months = _months_before(month, first_month)
        start_day, end_day = (p.astimezone(BILL_ZONE).date() for p in (period.start, period.end))
        payers: list[page_store.Payers] = []
        attention: list[page_store.AttentionGroup] = []
        with self.bills.read_engine.connect() as conn:
            if owner_id is None:  # pay-ins and their troubles are the merchant's, not an owner's
                payers = page_store.payers(conn, merchant_id, period.start, period.end)
                attention = page_store.attention(conn, merchant_id, start_day, end_day)
            rolled, last_rolled = _rolled_up(conn, statement, months)
        facts = PageFacts(
            merchant_name=merchant.name,
            fee_bps=merchant.fee_bps,
            payers=payers,
            attention=attention,
            daily=self._daily(statement, owner_id, rolled, last_rolled),
            earlier=self._earlier(statement, months, owner_id, rolled, last_rolled),
        )
        return bill_view(statement, facts, lang)

    def _daily(
        self,
        statement: Statement,
        owner_id: str | None,
        rolled: Mapping[str, Mapping[date, tuple[int, int]]],
        last_rolled: date | None,
    ) -> dict[str, dict[date, tuple[int, int]]]:
        """{currency: {day: (in, out)}} of the month, up to today."""
        today = bill_day_of(self.bills.clock.now())
        daily: dict[str, dict[date, tuple[int, int]]] = {c: {} for c in rolled}
        for day in statement.period.days:
            if day > today:
                break
            if last_rolled is not None and day <= last_rolled:
                for currency in rolled:
                    daily[currency][day] = rolled[currency].get(day, (0, 0))
                continue
            found = self.bills.statement(statement.merchant_id, day.isoformat(), owner_id)
            for currency in rolled:
                flow = month_flow(found, currency)
                daily[currency][day] = (flow.amount_in, flow.amount_out)
        return daily

    def _earlier(
        self,
        statement: Statement,
        months: list[str],
        owner_id: str | None,
        rolled: Mapping[str, Mapping[date, tuple[int, int]]],
        last_rolled: date | None,
    ) -> dict[str, list[Flow]]:
        """{currency: [Flow of each month before, oldest first]}."""
        earlier: dict[str, list[Flow]] = {c: [] for c in rolled}
        for label in months:
            period = month_period(label)
            last_day = period.end.astimezone(BILL_ZONE).date() - timedelta(days=1)
            if last_rolled is not None and last_day <= last_rolled:
                for currency, days in rolled.items():
                    moved = [v for d, v in days.items() if month_of(d) == label]
                    earlier[currency].append(
                        Flow(label, sum(v[0] for v in moved), sum(v[1] for v in moved))
                    )
                continue
            found = self.bills.statement(statement.merchant_id, label, owner_id)
            for currency in rolled:
                earlier[currency].append(month_flow(found, currency))
        return earlier


def _rolled_up(
    conn: Connection, statement: Statement, months: list[str]
) -> tuple[dict[str, dict[date, tuple[int, int]]], date | None]:
    """The closed days of the charts' window per currency, and the last of them (None:
    no day is closed, every figure comes from the statement service)."""
    closed = store.last_closed(conn)
    period = statement.period
    end_day = period.end.astimezone(BILL_ZONE).date()
    last = min(closed[0], end_day - timedelta(days=1)) if closed else None
    first = month_period(months[0]).start if months else period.start
    first_day = first.astimezone(BILL_ZONE).date()
    return {
        currency: page_store.rolled_up_days(conn, ids, first_day, last) if last else {}
        for currency, ids in _kept_for_merchant(statement).items()
    }, last


def _kept_for_merchant(statement: Statement) -> dict[str, list[str]]:
    """{currency: ids of the accounts that keep money for the merchant} (the chart's)."""
    found: dict[str, list[str]] = {}
    for a in statement.accounts:
        if not a.debit_normal:
            found.setdefault(a.currency, []).append(a.account_id)
    return found


def _months_before(month: str, first_month: str) -> list[str]:
    """Up to 11 months before `month`, oldest first, none before the merchant existed."""
    found: list[str] = []
    label = month
    while len(found) < MONTHS_SHOWN_MAX - 1:
        label = previous_month(label)
        if label < first_month:
            break
        found.append(label)
    return found[::-1]


def render_html(view: BillView) -> str:
    """The bill as one self-contained HTML page (styles and charts inline)."""
    charts = {
        bill.currency: (
            Markup(daily_chart(flows_of(bill.daily), bill.currency, view.lang)),
            Markup(months_chart(flows_of(bill.months), bill.currency, view.lang)),
        )
        for bill in view.currencies
    }
    return _templates.get_template("bill.html.j2").render(
        view=view, w=WORDS[view.lang], charts=charts
    )
