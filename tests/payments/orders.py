"""An order in memory, for the payments rule tests."""

from __future__ import annotations

from datetime import UTC, datetime

from paycore.payments.model import Failure, Order, OrderKind, OrderStatus

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def order(
    kind: OrderKind = OrderKind.PAYIN,
    status: OrderStatus = OrderStatus.PROCESSING,
    *,
    attempts: int = 0,
    expires_at: datetime | None = None,
    amount: int = 10_000,
    refunded: int = 0,
    failure: Failure | None = None,
) -> Order:
    return Order(
        id="pay_1",
        kind=kind,
        merchant_id="m1",
        product="rent",
        amount=amount,
        currency="CNY",
        status=status,
        created_at=NOW,
        updated_at=NOW,
        query_attempts=attempts,
        expires_at=expires_at,
        refunded_amount=refunded,
        failure=failure,
    )
