"""The reads behind an incident's impact and behind the detectors that look at tables:
orders a window touched, the ledger and cross-slice checks that ran in it, the finance
days it left with missing vouchers, orders waiting too long for a result, and vouchers
the finance push has not delivered. Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from paycore.finance.store import derived_days, vouchers
from paycore.ledger.store_checks import checks
from paycore.payments.model import PROBE_MERCHANT_ID
from paycore.payments.store import orders

UNRESOLVED = ("created", "processing")
CAUSED_BY_US = ("channel", "system")
"""Failure classes that count against paycore: the user's and the merchant's do not."""


@dataclass(slots=True)
class OrdersTouched:
    orders: int = 0
    merchants: int = 0
    amount_minor: dict[str, int] = field(default_factory=dict)
    products: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    all_orders: int = 0
    """Every order created in the window, affected or not: the traffic share's base."""


def _touched(start: datetime, end: datetime) -> Any:
    """Created in the window, and failed through a channel or paycore, or still without a
    result when the window ended."""
    return and_(
        orders.c.created_at >= start,
        orders.c.created_at < end,
        orders.c.merchant_id != PROBE_MERCHANT_ID,
        or_(
            and_(orders.c.status == "failed", orders.c.failure_class.in_(CAUSED_BY_US)),
            orders.c.finished_at.is_(None),
            orders.c.finished_at > end,
        ),
    )


def orders_touched(
    conn: Connection,
    *,
    start: datetime,
    end: datetime,
    products: Sequence[str],
    channels: Sequence[str],
    kinds: Sequence[str] = (),
) -> OrdersTouched:
    where = [_touched(start, end)]
    if kinds:
        where.append(orders.c.kind.in_(list(kinds)))
    if products:
        where.append(orders.c.product.in_(list(products)))
    if channels:
        where.append(orders.c.channel.in_(list(channels)))
    found = OrdersTouched()
    grouped = conn.execute(
        select(
            orders.c.currency,
            orders.c.product,
            orders.c.channel,
            func.count(),
            func.sum(orders.c.amount),
        )
        .where(*where)
        .group_by(orders.c.currency, orders.c.product, orders.c.channel)
    )
    for currency, product, channel, count, amount in grouped:
        found.orders += int(count)
        found.amount_minor[currency] = found.amount_minor.get(currency, 0) + int(amount or 0)
        found.products.add(product)
        if channel:
            found.channels.add(channel)
    found.merchants = int(
        conn.execute(
            select(func.count(func.distinct(orders.c.merchant_id))).where(*where)
        ).scalar_one()
    )
    found.all_orders = orders_created(conn, start=start, end=end)
    return found


def orders_created(conn: Connection, *, start: datetime, end: datetime) -> int:
    query = select(func.count()).where(
        orders.c.created_at >= start,
        orders.c.created_at < end,
        orders.c.merchant_id != PROBE_MERCHANT_ID,  # merchants' traffic only
    )
    return int(conn.execute(query).scalar_one())


def last_check_run(conn: Connection, *, start: datetime, end: datetime) -> dict[str, Any] | None:
    """The last ledger self-check (with the cross-slice flows it runs) started in the window."""
    row = conn.execute(
        select(checks.c.ok, checks.c.totals, checks.c.problems)
        .where(checks.c.started_at >= start, checks.c.started_at <= end)
        .order_by(checks.c.started_at.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row else None


def finance_breaks(conn: Connection, *, start: datetime, end: datetime) -> list[list[Any]]:
    """The breaks of every finance day reconciled in the window, a list per day (stored
    by finance/reconcile.py as {"receiver_checked": ..., "breaks": [...]})."""
    rows = conn.execute(
        select(derived_days.c.recon_breaks).where(
            derived_days.c.recon_at >= start, derived_days.c.recon_at <= end
        )
    )
    days = [row[0] for row in rows]
    return [list(day.get("breaks", ())) if isinstance(day, dict) else [] for day in days]


def voucher_amounts(conn: Connection, voucher_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """voucher id -> (currency, debit total) for the vouchers named."""
    if not voucher_ids:
        return {}
    rows = conn.execute(
        select(vouchers.c.id, vouchers.c.currency, vouchers.c.debit_total_minor).where(
            vouchers.c.id.in_(list(voucher_ids))
        )
    )
    return {row[0]: (row[1], int(row[2])) for row in rows}


@dataclass(frozen=True, slots=True)
class Waiting:
    count: int
    oldest_at: datetime | None
    products: tuple[str, ...]
    channels: tuple[str, ...]


def unresolved_orders(conn: Connection, *, created_before: datetime) -> Waiting:
    """Orders still without a result, created before the cut (the janitor's partial index
    holds exactly the unresolved ones, so this stays cheap on a big table)."""
    rows = conn.execute(
        select(orders.c.product, orders.c.channel, func.count(), func.min(orders.c.created_at))
        .where(orders.c.status.in_(UNRESOLVED), orders.c.created_at < created_before)
        .group_by(orders.c.product, orders.c.channel)
    ).all()
    oldest = min((row[3] for row in rows), default=None)
    return Waiting(
        count=sum(int(row[2]) for row in rows),
        oldest_at=oldest,
        products=tuple(sorted({row[0] for row in rows})),
        channels=tuple(sorted({row[1] for row in rows if row[1]})),
    )
