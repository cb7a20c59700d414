"""The three steps of every create, none holding a transaction across the network.

1. `record`: the idempotency key, the order and its first attempt, in one transaction;
2. `hold`: for payouts and refunds, the merchant's money, before anything is sent;
3. `dispatch`: call the channels in route order while they certainly did not process
   the order (failover), then apply the answer through the Settler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from paycore.channels.model import (
    Channel,
    ChannelResult,
    ChannelTimeout,
    ChannelUnavailable,
    FailureClass,
)
from paycore.errors import Rejected
from paycore.payments import bookkeeping as books
from paycore.payments import store, store_idempotency
from paycore.payments.model import Failure, Order, OrderKind, OrderStatus
from paycore.payments.settle import Idem, PaymentsContext, Settler
from paycore.payments.views import order_view
from paycore.platform.db import WRITER

log = logging.getLogger(__name__)

IDEMPOTENCY_LEASE_S = 60
"""A request that crashed mid-way leaves its key unanswered; after this long a replay
answers with the order as it now stands (the janitor resolves the order itself)."""


@dataclass(frozen=True, slots=True)
class Created:
    """What a create answers: the order's view, its HTTP status, and whether it is a replay."""

    status_code: int
    body: Mapping[str, Any]
    replayed: bool = False


class Steps:
    def __init__(self, ctx: PaymentsContext, settler: Settler) -> None:
        self.ctx = ctx
        self.settler = settler

    def record(
        self,
        order: Order,
        idem: Idem,
        canonical: bytes,
        first_channel: list[str],
        *,
        reserve_from: Order | None = None,
        on_record: Callable[[Connection], None] | None = None,
    ) -> Created | None:
        """Step 1: the idempotency key, the order and its first attempt, in one transaction.
        `on_record` writes more with the order, in its transaction (the blind index of its
        numbers). Returns a replayed answer, or None: go on and call the channel."""
        request_hash = self.ctx.request_hash(canonical)
        now = self.ctx.clock.now()
        if first_channel:
            order.channel = first_channel[0]
            first_query_s = self.ctx.query_schedule_s(order.channel)[0]
            order.next_query_at = now + timedelta(seconds=first_query_s)
        with self.ctx.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            prior = store_idempotency.claim_idempotency_key(
                conn,
                merchant_id=idem.merchant_id,
                key=idem.key,
                request_hash=request_hash,
                object_id=order.id,
                now=now,
            )
            if prior is not None:
                return self._replay(conn, prior, request_hash, now)
            if order.merchant_reference is not None and store.find_by_reference(
                conn,
                merchant_id=order.merchant_id,
                kind=order.kind,
                reference=order.merchant_reference,
            ):
                raise Rejected(
                    "duplicate_merchant_reference",
                    f"a {order.kind} with merchant_reference {order.merchant_reference} exists",
                )
            if reserve_from is not None and not store.reserve_refund(
                conn, payin_id=reserve_from.id, amount=order.amount
            ):
                raise Rejected(
                    "refund_exceeds_refundable",
                    f"{order.amount} is more than what is still refundable on {reserve_from.id}",
                )
            store.insert_order(conn, order)
            if on_record is not None:
                on_record(conn)
            if first_channel:
                self.settler.new_attempt(conn, order, first_channel[0])
            return None

    def _replay(
        self, conn: Connection, prior: Mapping[str, Any], request_hash: str, now: Any
    ) -> Created:
        if prior["request_hash"] != request_hash:
            raise Rejected(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body",
            )
        response = store_idempotency.stored_response(self.ctx.cipher, prior)
        if prior["status_code"] is not None and response is not None:
            return Created(prior["status_code"], response, replayed=True)
        object_id = prior["object_id"]
        started = prior["created_at"]
        if object_id is None or now - started < timedelta(seconds=IDEMPOTENCY_LEASE_S):
            raise Rejected(
                "request_in_progress", "the first request with this key is still running"
            )
        order = store.get_order(conn, object_id)
        if order is None:
            raise Rejected(
                "request_in_progress", "the first request with this key is still running"
            )
        return Created(201, order_view(order), replayed=True)

    def hold(self, order: Order, idem: Idem, *, reason: int) -> None:
        """Reserve the merchant's money before anything is sent; refuse if it is not there."""
        self.settler.ensure_accounts(order, order.channel or "none")
        [result] = self.settler.post([books.hold(order, reason=reason)])
        if result in ("created", "exists"):
            return
        code = "insufficient_balance" if result == "exceeds_credits" else f"ledger_{result}"
        failure = Failure(FailureClass.MERCHANT, code, f"the merchant wallet refused: {result}")
        problem = {"code": code, "status": 422, "detail": failure.message, "order_id": order.id}
        with self.ctx.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            order.status = OrderStatus.FAILED
            order.failure = failure
            order.next_query_at = None
            order.finished_at = self.ctx.clock.now()
            store.save_order(conn, order)
            # Never sent: the attempt says so and stays out of the channel's rates.
            store.finish_open_attempt(
                conn,
                order_id=order.id,
                status="not_sent",
                failure=failure,
                finished_at=order.finished_at,
                latency_ms=None,
            )
            if order.kind is OrderKind.REFUND and order.parent_id:
                store.release_refund(conn, payin_id=order.parent_id, amount=order.amount)
            store_idempotency.save_idempotent_response(
                conn,
                cipher=self.ctx.cipher,
                merchant_id=idem.merchant_id,
                key=idem.key,
                status_code=422,
                response=problem,
            )
        raise Rejected(code, failure.message)

    def dispatch(
        self,
        order: Order,
        candidates: list[str],
        call: Callable[[Channel], ChannelResult],
        idem: Idem,
    ) -> Created:
        """Step 2 and 3: try channels in order while they certainly did not process it."""
        for index, name in enumerate(candidates):
            if index > 0:
                self._switch_channel(order, name)
            started = time.monotonic()
            try:
                result = self.ctx.channels.call(name, call)
            except ChannelUnavailable as error:
                log.info("order %s: channel %s unavailable (%s)", order.id, name, error.detail)
                self._attempt_failed(order, "channel_unavailable")
                continue
            except ChannelTimeout:
                log.warning("order %s: channel %s did not answer; result unknown", order.id, name)
                self.settler.mark_processing(order, None, unknown=True, idem=idem)
                return Created(201, order_view(order))
            latency_ms = int((time.monotonic() - started) * 1000)
            self.settler.apply(order, result, latency_ms=latency_ms, idem=idem)
            return Created(201, order_view(order))
        code = "all_channels_unavailable" if candidates else "no_channel_available"
        self.settler.finish(
            order,
            OrderStatus.FAILED,
            failure=Failure(FailureClass.CHANNEL, code, "no channel could take the order"),
            idem=idem,
        )
        return Created(201, order_view(order))

    def _switch_channel(self, order: Order, name: str) -> None:
        with self.ctx.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            order.channel = name
            store.save_order(conn, order)
            self.settler.new_attempt(conn, order, name)

    def _attempt_failed(self, order: Order, code: str) -> None:
        """The channel certainly did not process it: counted apart from the channel's
        decided attempts (`unavailable`), since failover gives the order another chance."""
        with self.ctx.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.finish_open_attempt(
                conn,
                order_id=order.id,
                status="unavailable",
                failure=Failure(FailureClass.CHANNEL, code),
                finished_at=self.ctx.clock.now(),
                latency_ms=None,
            )
