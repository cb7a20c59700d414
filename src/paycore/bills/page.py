"""The bill a shop owner reads: a statement and a few facts around it, in plain words.

`bill_view` is pure (a Statement + PageFacts -> BillView), so the words and figures are
tested on statements built by hand; `BillPages` gathers the facts (the statement service,
the merchant, `page_store` reads) and `render_html` pours a view into the one template
that serves the page and its PDF. Chinese by default, English with lang="en".

Money in the view is always an integer of minor units beside its text, so the JSON form
carries the exact figure and the page the readable one. Only accounts that hold money
*for* the merchant (credit-normal: its wallets, budgets, sub-accounts) make the balance
sum "opening + in - out = closing"; what its users owe (debit-normal receivables) is the
separate "owed" section.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from paycore.bills import page_store
from paycore.bills.chart import Flow, money_text
from paycore.bills.model import (
    BILL_ZONE,
    MONTHS_SHOWN_MAX,
    AccountStatement,
    Category,
    Statement,
)
from paycore.bills.page_words import (
    ATTENTION,
    CATEGORY,
    WORDS,
    check_lang,
    equation,
    fee_rate_text,
    hold_text,
    month_title,
    payers_text,
)

FEES = frozenset({Category.FEE})


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str
    text: str


@dataclass(frozen=True, slots=True)
class Line:
    key: str  # the statement's category: stable for programs reading the JSON
    label: str
    count: int
    amount: Money


@dataclass(frozen=True, slots=True)
class ProductLine:
    product: str
    channel: str
    count: int
    amount: Money


@dataclass(frozen=True, slots=True)
class PayerLine:
    name: str  # masked
    payins: int
    amount: Money


@dataclass(frozen=True, slots=True)
class HoldLine:
    what: str
    amount: Money
    release_at: str | None  # ISO 8601 UTC; None: when its payment finishes
    release_text: str  # local time in words


@dataclass(frozen=True, slots=True)
class DebtLine:
    who: str
    opening: Money
    closing: Money


@dataclass(frozen=True, slots=True)
class FlowPoint:
    label: str  # 2026-11-03 or 2026-11
    money_in: Money
    money_out: Money


@dataclass(frozen=True, slots=True)
class CurrencyBill:
    currency: str
    opening: Money
    money_in: Money
    money_out: Money
    closing: Money
    on_hold: Money
    equation: str
    came_in: tuple[Line, ...]
    payins: tuple[ProductLine, ...]
    payers_count: int
    payins_count: int
    payers_text: str
    payers: tuple[PayerLine, ...]
    fees: Money
    fee_count: int
    fee_text: str
    went_out: tuple[Line, ...]
    holds: tuple[HoldLine, ...]
    holds_total: Money
    owed: tuple[DebtLine, ...]
    owed_total: Money
    daily: tuple[FlowPoint, ...]
    months: tuple[FlowPoint, ...]


@dataclass(frozen=True, slots=True)
class AttentionLine:
    kind: str  # failed_collection | recon_break | refund_waiting
    count: int
    text: str
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BillView:
    merchant_id: str
    merchant_name: str
    owner_id: str | None
    month: str
    lang: str
    title: str
    as_of: str  # ISO 8601 UTC: how fresh the figures are
    as_of_text: str
    sealed: bool
    currencies: tuple[CurrencyBill, ...]
    attention: tuple[AttentionLine, ...]
    attention_text: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Hold:
    """A live hold on one of the statement's accounts (the statement's `extras`)."""

    account_id: str
    category: str
    outgoing: bool
    amount: int
    expires_at: datetime | None  # None: released by its flow, not by the clock


def holds_of(statement: Statement) -> list[Hold]:
    """The statement's live holds, soonest release first (no release time last)."""
    found = statement.extras.get("holds", ())
    rows = cast(Sequence[Mapping[str, Any]], found if isinstance(found, list | tuple) else ())
    holds = [
        Hold(
            account_id=str(h["account_id"]),
            category=str(h.get("category", "")),
            outgoing=h.get("direction") == "out",
            amount=int(h["amount"]),
            expires_at=h.get("expires_at"),
        )
        for h in rows
    ]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(holds, key=lambda h: (h.expires_at or far, h.account_id))


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What the bill shows beyond the statement. `daily`: {currency: {day: (in, out)}};
    `earlier`: {currency: money in and out of each month before, oldest first}."""

    merchant_name: str
    fee_bps: int | None = None
    payers: Sequence[page_store.Payers] = ()
    attention: Sequence[page_store.AttentionGroup] = ()
    daily: Mapping[str, Mapping[date, tuple[int, int]]] = field(default_factory=dict)
    earlier: Mapping[str, Sequence[Flow]] = field(default_factory=dict)


def bill_view(statement: Statement, facts: PageFacts, lang: str = "zh") -> BillView:
    """The page's content, in `lang`, from a statement and its facts."""
    check_lang(lang)
    words = WORDS[lang]
    currencies = sorted({a.currency for a in statement.accounts})
    return BillView(
        merchant_id=statement.merchant_id,
        merchant_name=facts.merchant_name,
        owner_id=statement.owner_id,
        month=statement.period.label,
        lang=lang,
        title=month_title(facts.merchant_name, statement.period.label, statement.owner_id, lang),
        as_of=statement.as_of.isoformat(),
        as_of_text=words["as_of"].format(when=_local(statement.as_of)),
        sealed=statement.sealed_hash is not None,
        currencies=tuple(_currency_bill(statement, facts, c, lang) for c in currencies),
        attention=tuple(_attention(g, lang) for g in facts.attention),
        attention_text=words["attention_none"] if not facts.attention else "",
    )


def _money(amount: int, currency: str, lang: str) -> Money:
    return Money(amount, currency, money_text(amount, currency, lang))


def _local(at: datetime) -> str:
    return at.astimezone(BILL_ZONE).strftime("%Y-%m-%d %H:%M")


def _held_for_merchant(statement: Statement, currency: str) -> list[AccountStatement]:
    return [a for a in statement.accounts if a.currency == currency and not a.debit_normal]


def month_flow(statement: Statement, currency: str) -> Flow:
    """A statement's money in and out of one currency (the months chart's bar)."""
    accounts = _held_for_merchant(statement, currency)
    return Flow(
        statement.period.label,
        sum(m.amount_in for a in accounts for m in a.movements),
        sum(m.amount_out for a in accounts for m in a.movements),
    )


def _currency_bill(
    statement: Statement, facts: PageFacts, currency: str, lang: str
) -> CurrencyBill:
    def money(amount: int) -> Money:
        return _money(amount, currency, lang)

    accounts = _held_for_merchant(statement, currency)
    opening = sum(a.opening.posted(a.debit_normal) + a.adjustment for a in accounts)
    closing = sum(a.closing.posted(a.debit_normal) for a in accounts)
    flow = month_flow(statement, currency)
    by_category = _by_category(accounts)
    fees = by_category.get(Category.FEE, (0, 0, 0))
    fee_total = fees[1] - fees[0]  # net of any fee given back
    payers = next((p for p in facts.payers if p.currency == currency), None)
    currency_of = {a.account_id: a.currency for a in statement.accounts}
    holds = [h for h in holds_of(statement) if currency_of.get(h.account_id) == currency]
    owed = [a for a in statement.accounts if a.currency == currency and a.debit_normal]
    return CurrencyBill(
        currency=currency,
        opening=money(opening),
        money_in=money(flow.amount_in),
        money_out=money(flow.amount_out),
        closing=money(closing),
        on_hold=money(sum(a.closing.on_hold() for a in accounts)),
        equation=equation(opening, flow.amount_in, flow.amount_out, closing, currency, lang),
        came_in=_lines(by_category, lang, currency, incoming=True),
        payins=_payins(accounts, currency, lang),
        payers_count=payers.payers if payers else 0,
        payins_count=payers.payins if payers else 0,
        payers_text=payers_text(payers.payers, payers.payins, lang) if payers else "",
        payers=tuple(
            PayerLine(p.name, p.payins, money(p.amount)) for p in (payers.top if payers else ())
        ),
        fees=money(fee_total),
        fee_count=fees[2],
        fee_text=fee_rate_text(facts.fee_bps, fees[2], money(fee_total).text, lang),
        went_out=_lines(by_category, lang, currency, incoming=False),
        holds=_hold_lines(holds, currency, lang),
        holds_total=money(sum(h.amount for h in holds)),
        owed=_debt_lines(owed, statement.merchant_id, currency, lang),
        owed_total=money(sum(a.closing.posted(True) for a in owed)),
        daily=tuple(_points(_days(statement, facts.daily.get(currency, {})), currency, lang)),
        months=tuple(_points([*_earlier(facts.earlier, currency), flow], currency, lang)),
    )


def _hold_lines(holds: Sequence[Hold], currency: str, lang: str) -> tuple[HoldLine, ...]:
    return tuple(
        HoldLine(
            hold_text(h.category, h.outgoing, lang),
            _money(h.amount, currency, lang),
            h.expires_at.isoformat() if h.expires_at else None,
            _local(h.expires_at) if h.expires_at else WORDS[lang]["released_by_flow"],
        )
        for h in holds
    )


def _debt_lines(
    owed: Sequence[AccountStatement], merchant_id: str, currency: str, lang: str
) -> tuple[DebtLine, ...]:
    """What each owner owed at the start and owes at the end (owners who owed nothing in
    the month are left out)."""
    return tuple(
        DebtLine(
            _owner_name(a.owner_id, merchant_id, lang),
            _money(a.opening.posted(True), currency, lang),
            _money(a.closing.posted(True), currency, lang),
        )
        for a in owed
        if a.opening.posted(True) or a.closing.posted(True)
    )


def _earlier(earlier: Mapping[str, Sequence[Flow]], currency: str) -> list[Flow]:
    return list(earlier.get(currency, ())[-(MONTHS_SHOWN_MAX - 1) :])


def _by_category(accounts: Sequence[AccountStatement]) -> dict[Category, tuple[int, int, int]]:
    """{category: (in, out, count)} over the accounts."""
    found: dict[Category, tuple[int, int, int]] = {}
    for a in accounts:
        for m in a.movements:
            was = found.get(m.category, (0, 0, 0))
            found[m.category] = (was[0] + m.amount_in, was[1] + m.amount_out, was[2] + m.count)
    return found


def _lines(
    by_category: Mapping[Category, tuple[int, int, int]],
    lang: str,
    currency: str,
    *,
    incoming: bool,
) -> tuple[Line, ...]:
    """Money in (or out) by category, biggest first; fees have their own section."""
    lines = []
    for category, (amount_in, amount_out, count) in by_category.items():
        amount = amount_in if incoming else amount_out
        if amount and category not in FEES:
            label = CATEGORY[lang][category]
            lines.append(Line(category.value, label, count, _money(amount, currency, lang)))
    return tuple(sorted(lines, key=lambda line: (-line.amount.minor, line.key)))


def _payins(
    accounts: Sequence[AccountStatement], currency: str, lang: str
) -> tuple[ProductLine, ...]:
    sums: dict[tuple[str, str], tuple[int, int]] = {}
    for a in accounts:
        for m in a.movements:
            if m.category is Category.PAYIN:
                was = sums.get((m.product, m.channel), (0, 0))
                sums[(m.product, m.channel)] = (was[0] + m.count, was[1] + m.amount_in)
    lines = [
        ProductLine(product or "-", channel or "-", count, _money(amount, currency, lang))
        for (product, channel), (count, amount) in sums.items()
    ]
    return tuple(sorted(lines, key=lambda p: (-p.amount.minor, p.product, p.channel)))


def _days(statement: Statement, daily: Mapping[date, tuple[int, int]]) -> list[Flow]:
    return [Flow(day.isoformat(), *daily.get(day, (0, 0))) for day in statement.period.days]


def _points(flows: Sequence[Flow], currency: str, lang: str) -> list[FlowPoint]:
    return [
        FlowPoint(
            f.label, _money(f.amount_in, currency, lang), _money(f.amount_out, currency, lang)
        )
        for f in flows
    ]


def _owner_name(owner_id: str, merchant_id: str, lang: str) -> str:
    if owner_id == merchant_id:
        return WORDS[lang]["you"]
    return owner_id.removeprefix(f"{merchant_id}:")


def _attention(group: page_store.AttentionGroup, lang: str) -> AttentionLine:
    text = ATTENTION[lang][group.kind].format(count=group.count)
    examples = tuple(
        " · ".join(
            part
            for part in (
                item.ref,
                item.since.isoformat(),
                money_text(item.amount, item.currency, lang) if item.amount is not None else "",
            )
            if part
        )
        for item in group.shown
    )
    return AttentionLine(group.kind, group.count, text, examples)


def flows_of(points: Sequence[FlowPoint]) -> list[Flow]:
    """The chart's input back from the view's points (integers, not their text)."""
    return [Flow(p.label, p.money_in.minor, p.money_out.minor) for p in points]
