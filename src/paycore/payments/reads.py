"""What `Payments` answers without changing anything: orders, their attempts, success
rates and the merchant's wallets. The use cases that change orders are in service.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from paycore import limits
from paycore.errors import Rejected
from paycore.payments import bookkeeping as books
from paycore.payments import store, store_rates
from paycore.payments.model import Order, OrderKind, OrderStatus, RateRow
from paycore.payments.settle import PaymentsContext, Settler


class PaymentReads:
    ctx: PaymentsContext
    settler: Settler

    def get(
        self, *, merchant_id: str | None, order_id: str, kind: OrderKind | None = None
    ) -> Order:
        """An order; a merchant asking for another merchant's order gets not-found."""
        order = self.settler.load(order_id)
        if (
            order is None
            or (kind is not None and order.kind is not kind)
            or (merchant_id is not None and order.merchant_id != merchant_id)
        ):
            raise Rejected("order_not_found", f"no {kind or 'order'} {order_id}")
        return order

    def list_orders(
        self,
        *,
        merchant_id: str | None,
        kind: OrderKind,
        limit: int = limits.ORDERS_PAGE_DEFAULT,
        after: str | None = None,
        status: OrderStatus | None = None,
        parent_id: str | None = None,
    ) -> list[Order]:
        limit = max(1, min(limit, limits.ORDERS_PAGE_MAX))
        with self.ctx.engine.connect() as conn:
            return store.list_orders(
                conn,
                merchant_id=merchant_id,
                kind=kind,
                limit=limit,
                after=after,
                status=status,
                parent_id=parent_id,
            )

    def attempts(self, order_id: str) -> list[Mapping[str, Any]]:
        with self.ctx.engine.connect() as conn:
            return store.attempts_of(conn, order_id)

    def success_rates(
        self,
        *,
        date_from: date,
        date_to: date,
        merchant_id: str | None = None,
        product: str | None = None,
        channel: str | None = None,
        kind: str | None = None,
        per_order: bool = False,
    ) -> list[RateRow]:
        if date_to < date_from:
            raise Rejected("invalid_date_range", "date_to is before date_from")
        if (date_to - date_from).days > 366:
            raise Rejected("invalid_date_range", "at most 366 days at a time")
        with self.ctx.engine.connect() as conn:
            return store_rates.success_rates(
                conn,
                date_from=date_from,
                date_to=date_to,
                merchant_id=merchant_id,
                product=product,
                channel=channel,
                kind=kind,
                per_order=per_order,
            )

    def balances(self, merchant_id: str) -> list[dict[str, Any]]:
        """The merchant's wallets: posted balance, money held for payouts and refunds, and
        what is available to pay out."""
        page = self.ctx.ledger.list_accounts(owner_id=merchant_id, limit=limits.ACCOUNTS_PAGE_MAX)
        return [
            {
                "account_id": a.id,
                "currency": a.currency,
                "balance": a.credits_posted - a.debits_posted,
                "held": a.debits_pending,
                "available": a.available,
            }
            for a in page.accounts
            if a.code == books.CODE_WALLET
        ]

    def finished_between(
        self,
        *,
        kind: OrderKind,
        status: OrderStatus,
        start: datetime,
        end: datetime,
        products: Sequence[str] | None = None,
        limit: int = 500,
    ) -> list[Order]:
        """Orders that became `status` in [start, end), oldest first: the durable side of
        `on_final`, for sweeps that catch up after a crash."""
        with self.ctx.engine.connect() as conn:
            return store.finished_between(
                conn, kind=kind, status=status, start=start, end=end, products=products, limit=limit
            )
