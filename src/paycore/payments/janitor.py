"""Orders whose result is unknown: callbacks that answer them, and the janitor that asks.

A channel's callback is verified by the channel adapter, then applied like any other
answer. The janitor queries back every order still waiting, on its channel's schedule
(`query_schedule_s`, by default 1 min, 5 min, 30 min, 2 h, then every 2 h), and closes
pay-ins at their expiry, so no order stays unresolved while its channel can be reached.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from paycore import limits
from paycore.channels.model import (
    BadNotification,
    Channel,
    ChannelError,
    ChannelResult,
    ChannelStatus,
    FailureClass,
    Operation,
)
from paycore.errors import InvariantViolation, Rejected
from paycore.payments import store
from paycore.payments.model import Failure, Order, OrderKind, OrderStatus, is_resolved
from paycore.payments.settle import PaymentsContext, Settler

log = logging.getLogger(__name__)

NOT_FOUND_GRACE_S = 300
"""How long a payout or refund the channel has no record of may still be on its way."""

_OPERATION = {
    OrderKind.PAYIN: Operation.PAYIN,
    OrderKind.PAYOUT: Operation.PAYOUT,
    OrderKind.REFUND: Operation.REFUND,
}


def handle_callback(
    ctx: PaymentsContext, settler: Settler, *, channel: str, headers: Mapping[str, str], body: bytes
) -> Order | None:
    """Verify and apply one channel callback. Returns the order, or None for a duplicate."""
    adapter = ctx.channels.get(channel)  # Rejected channel_not_found
    try:
        notification = adapter.parse_notification(headers, body)
    except BadNotification as error:
        log.warning("refused a callback on %s: %s", channel, error.code)
        raise Rejected(error.code, error.detail) from None
    order = settler.load(notification.reference)
    if order is None or order.channel != channel:
        raise Rejected("order_not_found", f"no order {notification.reference} on {channel}")
    if _OPERATION[order.kind] is not notification.operation:
        raise Rejected("malformed_notification", f"{order.id} is a {order.kind}")
    result = notification.result

    def remember(conn: Connection) -> None:
        store.record_callback(
            conn,
            channel=channel,
            notification_id=notification.notification_id,
            reference=order.id,
            status=result.status.value,
            now=ctx.clock.now(),
        )

    if result.status is ChannelStatus.PROCESSING:
        return order
    return settler.apply(order, result, on_commit=remember)


def ask_about_returns(ctx: PaymentsContext, settler: Settler, order_ids: Sequence[str]) -> int:
    """Query back paid payouts that a statement shows returned: the janitor never asks
    about a succeeded order, and a return whose callback was lost is learnt only here.
    Applies what the channel says (the state machine allows succeeded -> returned);
    returns how many are returned now."""
    returned = 0
    for order_id in order_ids[: limits.JANITOR_BATCH_MAX]:
        order = settler.load(order_id)
        if order is None or order.kind is not OrderKind.PAYOUT or order.channel is None:
            continue
        if order.status is not OrderStatus.SUCCEEDED:
            continue
        try:
            result = ctx.channels.call(order.channel, _payout_query(order.id))
            if result.status is not ChannelStatus.RETURNED:
                continue
            settler.apply(order, result)
        except (ChannelError, InvariantViolation, Rejected) as error:
            # As in the sweep: one payout's trouble (its channel down or retired since, the
            # ledger refusing) must not fail the reconciliation run that asked; its break
            # stays open for a person.
            log.warning("return of %s not confirmed: %s", order.id, error)
            continue
        returned += 1
    return returned


def _payout_query(reference: str) -> Callable[[Channel], ChannelResult]:
    return lambda ch: ch.query(Operation.PAYOUT, reference)


@dataclass(frozen=True, slots=True)
class SweepReport:
    queried: int
    resolved: int
    still_waiting: int
    errors: int


class Janitor:
    def __init__(self, ctx: PaymentsContext, settler: Settler) -> None:
        self.ctx = ctx
        self.settler = settler

    def sweep(self, *, limit: int = limits.JANITOR_BATCH_MAX) -> SweepReport:
        now = self.ctx.clock.now()
        with self.ctx.engine.connect() as conn:
            due = store.due_for_query(conn, now=now, limit=limit)
        resolved = waiting = errors = 0
        for order in due:
            try:
                if self._resolve(order, now):
                    resolved += 1
                else:
                    waiting += 1
            except (ChannelError, InvariantViolation, Rejected) as error:
                # One order's trouble (a channel down, or no longer configured) must not
                # stop the sweep: it is tried again later and shows in the unresolved age.
                log.warning("janitor: %s still unresolved: %s", order.id, error)
                errors += 1
                self.settler.reschedule(order, now=now)
        return SweepReport(len(due), resolved, waiting, errors)

    def _resolve(self, order: Order, now: datetime) -> bool:
        """Ask the channel; True if the order reached a final status."""
        if order.channel is None:
            self.settler.finish(
                order,
                OrderStatus.FAILED,
                failure=Failure(FailureClass.SYSTEM, "not_sent", "no channel was ever called"),
            )
            return True
        expired = order.kind is OrderKind.PAYIN and order.expires_at is not None
        expired = expired and order.expires_at is not None and order.expires_at <= now
        operation = _OPERATION[order.kind]
        result: ChannelResult = self.ctx.channels.call(
            order.channel,
            lambda ch: ch.close(order.id) if expired else ch.query(operation, order.id),
        )
        if result.status is ChannelStatus.NOT_FOUND:
            return self._not_found(order, now, expired=expired)
        if result.status is ChannelStatus.PROCESSING:
            self.settler.reschedule(order, now=now)
            return False
        self.settler.apply(order, result)
        return True

    def _not_found(self, order: Order, now: datetime, *, expired: bool) -> bool:
        """The channel has no record of the order. Its request may still be on the way
        (stuck in a hanging bank, say), so "not found" is not yet "never".

        A pay-in is closed at the channel first: a request arriving after the close is
        refused, so the answer becomes final. Payouts and refunds cannot be closed: they
        fail only once NOT_FOUND_GRACE_S have passed since they were sent.
        """
        if order.kind is OrderKind.PAYIN:
            channel = order.channel or ""
            closed = self.ctx.channels.call(channel, lambda ch: ch.close(order.id))
            if closed.status not in (ChannelStatus.CLOSED, ChannelStatus.NOT_FOUND):
                self.settler.apply(order, closed)  # it arrived and was paid (or failed)
                return is_resolved(order.status)
        elif (now - order.created_at).total_seconds() < NOT_FOUND_GRACE_S:
            self.settler.reschedule(order, now=now)
            return False
        never = Failure(FailureClass.CHANNEL, "not_received", "the channel never got it")
        if expired:
            self.settler.finish(order, OrderStatus.CLOSED)
        else:
            self.settler.finish(order, OrderStatus.FAILED, failure=never)
        return True

    def unresolved(self) -> tuple[int, float]:
        """How many orders wait for a result, and the age in seconds of the oldest."""
        now = self.ctx.clock.now()
        with self.ctx.engine.connect() as conn:
            count, oldest = store.unresolved_summary(conn, now=now)
        return count, (now - oldest).total_seconds() if oldest else 0.0


def run_janitor(janitor: Janitor, *, interval_s: float, stop: threading.Event) -> None:
    """Sweep every `interval_s` until `stop` is set.

    A sweep that took a full batch is followed by the next one at once: after an outage
    the backlog drains at the channels' pace, not one batch per interval. Every order a
    sweep takes is resolved or rescheduled to a later query, so this cannot spin on the
    same orders; an idle sweep costs one indexed read of the unresolved orders.
    """
    wait_s = interval_s
    while not stop.wait(wait_s):
        wait_s = interval_s
        try:
            report = janitor.sweep()
        except Exception:  # one bad sweep must not stop the next
            log.exception("janitor sweep failed")
            continue
        if report.queried >= limits.JANITOR_BATCH_MAX:
            wait_s = 0.0
