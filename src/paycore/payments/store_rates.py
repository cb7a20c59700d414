"""Success rates from the attempts table: raw and effective, per product, channel and day.

Effective leaves out failures the payer (`user`) or the merchant caused, as the seed's
入金/出金 有效成功率 does; attempts refused before processing (`unavailable`) are
counted apart, since failover gave their orders another chance.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, select

from paycore.channels.model import FailureClass
from paycore.payments.model import PROBE_MERCHANT_ID, RateRow
from paycore.payments.store import attempts

ORDER_CHANNEL = "*"
"""The channel column of order-level rows: an order may have tried several channels."""


def success_rates(
    conn: Connection,
    *,
    date_from: date,
    date_to: date,
    merchant_id: str | None = None,
    product: str | None = None,
    channel: str | None = None,
    kind: str | None = None,
    per_order: bool = False,
) -> list[RateRow]:
    """Per attempt and channel; or, with `per_order`, per order by its last attempt, so an
    order that failed over and succeeded counts once, as a success (the SLO view)."""
    a = attempts
    # Per order, a refusal before processing is the order's failure: no channel took it.
    failures = ["failed", "unavailable", "not_sent"] if per_order else ["failed"]

    def failed(cls: FailureClass) -> Any:
        hit = and_(a.c.status.in_(failures), a.c.failure_class == cls.value)
        return func.sum(case((hit, 1), else_=0))

    channel_column = literal(ORDER_CHANNEL) if per_order else a.c.channel
    query = select(
        a.c.business_date,
        a.c.kind,
        a.c.product,
        channel_column,
        func.sum(case((a.c.status == "succeeded", 1), else_=0)),
        failed(FailureClass.USER),
        failed(FailureClass.MERCHANT),
        failed(FailureClass.CHANNEL),
        failed(FailureClass.SYSTEM),
        func.sum(case((a.c.status.in_(["sent", "unknown"]), 1), else_=0)),
        literal(0) if per_order else func.sum(case((a.c.status == "unavailable", 1), else_=0)),
    ).where(a.c.business_date >= date_from, a.c.business_date <= date_to)
    if per_order:
        later = attempts.alias("later")
        newest = select(func.max(later.c.id)).where(later.c.order_id == a.c.order_id)
        query = query.where(a.c.id == newest.scalar_subquery())
    for column, value in (
        (a.c.merchant_id, merchant_id),
        (a.c.product, product),
        (a.c.channel, channel),
        (a.c.kind, kind),
    ):
        if value is not None:
            query = query.where(column == value)
    if merchant_id is None:
        query = query.where(a.c.merchant_id != PROBE_MERCHANT_ID)
    group = (a.c.business_date, a.c.kind, a.c.product) + (() if per_order else (a.c.channel,))
    rows = conn.execute(query.group_by(*group).order_by(*group))
    return [
        RateRow(
            day=r[0].isoformat(),
            kind=r[1],
            product=r[2],
            channel=r[3],
            succeeded=int(r[4] or 0),
            failed_user=int(r[5] or 0),
            failed_merchant=int(r[6] or 0),
            failed_channel=int(r[7] or 0),
            failed_system=int(r[8] or 0),
            unresolved=int(r[9] or 0),
            unavailable=int(r[10] or 0),
        )
        for r in rows
    ]
