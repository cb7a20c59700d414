"""What the plain-language bill reads beside the statement: payers' masked names and the
things that need the owner's attention in other slices' tables (collection,
reconciliation, refunds). Read-only SQL on the bills' read pool; every query is bounded
by a merchant and a LIMIT or a period."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, and_, func, select

from paycore.bills.model import BILL_ZONE
from paycore.bills.store import account_days
from paycore.collection.store import periods as collection_periods
from paycore.collection.store import plans as collection_plans
from paycore.payments.store import orders
from paycore.recon.store import breaks

PAYERS_SHOWN_MAX = 5
"""The bill names the biggest payers of each currency, no more."""
ATTENTION_SHOWN_MAX = 5
"""Examples shown of each kind of thing that needs the owner's attention."""
IDS_PER_QUERY = 500
"""Account ids per IN (...) list: well under every driver's parameter limit."""
_OPEN_BREAKS = ("open", "investigating")
_WAITING = ("created", "processing")


@dataclass(frozen=True, slots=True)
class Payer:
    name: str  # masked: 张** or 622848******1234 when the payer gave no name
    payins: int
    amount: int


@dataclass(frozen=True, slots=True)
class Payers:
    currency: str
    payers: int  # distinct masked payers
    payins: int
    top: tuple[Payer, ...]


@dataclass(frozen=True, slots=True)
class Attention:
    """One thing the owner should look at. kind: failed_collection | recon_break |
    refund_waiting."""

    kind: str
    ref: str
    amount: int | None
    currency: str
    since: date


@dataclass(frozen=True, slots=True)
class AttentionGroup:
    kind: str
    count: int
    shown: tuple[Attention, ...]


def payers(conn: Connection, merchant_id: str, start: datetime, end: datetime) -> list[Payers]:
    """Who paid the merchant in [start, end): succeeded pay-ins grouped by masked payer."""
    name = orders.c.party_masked["name"].as_string()
    card = orders.c.party_masked["card_number"].as_string()
    grouped = (
        select(
            orders.c.currency,
            name.label("name"),
            card.label("card"),
            func.count().label("payins"),
            func.sum(orders.c.amount).label("amount"),
        )
        .where(
            orders.c.kind == "payin",
            orders.c.status == "succeeded",
            orders.c.finished_at >= start,
            orders.c.finished_at < end,
            orders.c.merchant_id == merchant_id,
        )
        .group_by(orders.c.currency, name, card)
        .subquery()
    )
    totals = conn.execute(
        select(grouped.c.currency, func.count(), func.sum(grouped.c.payins))
        .group_by(grouped.c.currency)
        .order_by(grouped.c.currency)
    ).all()
    found = []
    for currency, count, payins in totals:
        top = conn.execute(
            select(grouped.c.name, grouped.c.card, grouped.c.payins, grouped.c.amount)
            .where(grouped.c.currency == currency)
            .order_by(grouped.c.amount.desc(), grouped.c.payins.desc(), grouped.c.name)
            .limit(PAYERS_SHOWN_MAX)
        ).all()
        shown = tuple(Payer(r.name or r.card or "*", int(r.payins), int(r.amount)) for r in top)
        found.append(Payers(currency, int(count), int(payins), shown))
    return found


def rolled_up_days(
    conn: Connection, account_ids: Collection[str], first: date, last: date
) -> dict[date, tuple[int, int]]:
    """Money in and out per closed day over [first, last], summed over the accounts, from
    the day rollups the statements themselves read: O(days) rows, never the journal."""
    c = account_days.c
    found: dict[date, tuple[int, int]] = {}
    ids = sorted(account_ids)
    for start in range(0, len(ids), IDS_PER_QUERY):
        rows = conn.execute(
            select(c.day, func.sum(c.amount_in), func.sum(c.amount_out))
            .where(c.account_id.in_(ids[start : start + IDS_PER_QUERY]), c.day >= first)
            .where(c.day <= last)
            .group_by(c.day)
        )
        for day, amount_in, amount_out in rows:
            was = found.get(day, (0, 0))
            found[day] = (was[0] + int(amount_in), was[1] + int(amount_out))
    return found


def attention(
    conn: Connection, merchant_id: str, month_start: date, month_end: date
) -> list[AttentionGroup]:
    """The three things a bill asks its owner to look at, each with a count and the first
    few: collections of the month that failed every attempt, reconciliation breaks still
    open on the merchant's orders, refunds the bank has not finished."""
    return [
        group
        for group in (
            _failed_collections(conn, merchant_id, month_start, month_end),
            _open_breaks(conn, merchant_id),
            _refunds_waiting(conn, merchant_id),
        )
        if group.count
    ]


def _failed_collections(
    conn: Connection, merchant_id: str, month_start: date, month_end: date
) -> AttentionGroup:
    joined = collection_periods.join(
        collection_plans, collection_plans.c.id == collection_periods.c.plan_id
    )
    where = and_(
        collection_plans.c.merchant_id == merchant_id,
        collection_periods.c.status == "failed",
        collection_periods.c.due_date >= month_start,
        collection_periods.c.due_date < month_end,
    )
    count = conn.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
    rows = conn.execute(
        select(
            collection_plans.c.id,
            collection_plans.c.tenant,
            collection_periods.c.period_no,
            collection_periods.c.due_date,
            collection_plans.c.amount,
            collection_plans.c.currency,
        )
        .select_from(joined)
        .where(where)
        .order_by(collection_periods.c.due_date, collection_plans.c.id)
        .limit(ATTENTION_SHOWN_MAX)
    ).all()
    shown = tuple(
        Attention(
            "failed_collection",
            f"{r.id}#{r.period_no} ({r.tenant})",
            int(r.amount),
            r.currency,
            r.due_date,
        )
        for r in rows
    )
    return AttentionGroup("failed_collection", int(count), shown)


def _open_breaks(conn: Connection, merchant_id: str) -> AttentionGroup:
    joined = breaks.join(orders, orders.c.id == breaks.c.order_id)
    where = and_(orders.c.merchant_id == merchant_id, breaks.c.status.in_(_OPEN_BREAKS))
    count = conn.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
    rows = conn.execute(
        select(breaks.c.order_id, breaks.c.currency, orders.c.amount, breaks.c.business_date)
        .select_from(joined)
        .where(where)
        .order_by(breaks.c.business_date, breaks.c.id)
        .limit(ATTENTION_SHOWN_MAX)
    ).all()
    shown = tuple(
        Attention("recon_break", r.order_id, int(r.amount), r.currency, r.business_date)
        for r in rows
    )
    return AttentionGroup("recon_break", int(count), shown)


def _refunds_waiting(conn: Connection, merchant_id: str) -> AttentionGroup:
    where = and_(
        orders.c.merchant_id == merchant_id,
        orders.c.kind == "refund",
        orders.c.status.in_(_WAITING),
    )
    count = conn.execute(select(func.count()).select_from(orders).where(where)).scalar_one()
    rows = conn.execute(
        select(orders.c.id, orders.c.amount, orders.c.currency, orders.c.created_at)
        .where(where)
        .order_by(orders.c.created_at, orders.c.id)
        .limit(ATTENTION_SHOWN_MAX)
    ).all()
    shown = tuple(
        Attention(
            "refund_waiting",
            r.id,
            int(r.amount),
            r.currency,
            r.created_at.astimezone(BILL_ZONE).date(),
        )
        for r in rows
    )
    return AttentionGroup("refund_waiting", int(count), shown)
