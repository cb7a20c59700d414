"""Applying a channel's answer to an order: the ledger, the order and its event at once.

Whatever brings the answer (the synchronous reply, a callback, the janitor's query),
it goes through `Settler.apply`. Ledger transfer ids derive from the order id, so the
money moves once however often the answer arrives; the order changes by
compare-and-set, so two answers racing leave one winner; the merchant's event is
written in the same transaction as the order change (transactional outbox), which is
the ledger writer's transaction when money moves (`Settler._commit_final`). The
context the use cases share (`PaymentsContext`, `Idem`) is in context.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from paycore import ids
from paycore.channels.model import ChannelResult, FailureClass
from paycore.errors import InvariantViolation
from paycore.ledger.model import AccountFlags, TransferRequest
from paycore.ledger.service import AccountRequest
from paycore.payments import bookkeeping as books
from paycore.payments import store, store_idempotency
from paycore.payments.context import Idem as Idem
from paycore.payments.context import PaymentsContext as PaymentsContext
from paycore.payments.model import (
    Failure,
    Order,
    OrderKind,
    OrderStatus,
    can_transition,
    next_query_at,
    target_status,
)
from paycore.payments.views import order_view
from paycore.platform.db import WRITER, one_read

log = logging.getLogger(__name__)

ENSURE_ACCOUNTS_ATTEMPTS = 4


class Settler:
    def __init__(self, ctx: PaymentsContext) -> None:
        self.ctx = ctx

    # -- ledger -------------------------------------------------------------------------

    def ensure_accounts(self, order: Order, channel: str) -> None:
        specs = [
            s for s in books.account_specs(order, channel) if s[0] not in self.ctx.ensured_accounts
        ]
        if not specs:
            return
        requests = [
            AccountRequest(
                id=account_id,
                currency=order.currency,
                code=code,
                owner_id=owner,
                flags=AccountFlags(flags),
            )
            for account_id, code, owner, flags in specs
        ]
        for attempt in range(1, ENSURE_ACCOUNTS_ATTEMPTS + 1):
            try:
                self.ctx.ledger.create_accounts(requests)
                break
            except IntegrityError:
                # The first pay-ins of a merchant or channel race to open the same accounts
                # (seen with 12 at once on PostgreSQL); each try finds more of them there.
                if attempt == ENSURE_ACCOUNTS_ATTEMPTS:
                    raise
        self.ctx.ensured_accounts.update(s[0] for s in specs)

    def post(self, transfers: Sequence[TransferRequest]) -> list[str]:
        return [r.result for r in self.ctx.ledger.create_transfers(transfers)]

    def _ledger_step(self, order: Order, target: OrderStatus) -> list[TransferRequest]:
        channel = order.channel or ""
        match order.kind, target:
            case OrderKind.PAYIN, OrderStatus.SUCCEEDED:
                return books.payin_capture(order, channel)
            case OrderKind.PAYOUT, OrderStatus.SUCCEEDED:
                return books.settle_hold(order, channel, reason=books.REASON_PAYOUT)
            case OrderKind.REFUND, OrderStatus.SUCCEEDED:
                return books.settle_hold(order, channel, reason=books.REASON_REFUND)
            case ((OrderKind.PAYOUT | OrderKind.REFUND), (OrderStatus.FAILED | OrderStatus.CLOSED)):
                return [books.void_hold(order)]
            case OrderKind.PAYOUT, OrderStatus.RETURNED:
                return [books.payout_return(order, channel)]
        return []

    # -- applying results ---------------------------------------------------------------

    def apply(
        self,
        order: Order,
        result: ChannelResult,
        *,
        latency_ms: int | None = None,
        idem: Idem | None = None,
        on_commit: Callable[[Connection], None] | None = None,
    ) -> Order:
        """Bring the order to what the channel said. Safe to call again with the same answer."""
        target = target_status(order.kind, result)
        if target is None:
            return self.mark_processing(order, result, idem=idem, on_commit=on_commit)
        failure = None
        if target is OrderStatus.FAILED:
            failure = Failure(
                result.failure_class or FailureClass.CHANNEL,
                result.failure_code or "channel_declined",
                result.failure_message,
            )
        return self.finish(
            order,
            target,
            failure=failure,
            channel_txn_id=result.channel_txn_id,
            latency_ms=latency_ms,
            idem=idem,
            on_commit=on_commit,
        )

    def finish(
        self,
        order: Order,
        target: OrderStatus,
        *,
        failure: Failure | None = None,
        channel_txn_id: str | None = None,
        latency_ms: int | None = None,
        idem: Idem | None = None,
        on_commit: Callable[[Connection], None] | None = None,
    ) -> Order:
        for _ in range(5):
            if order.status is target or not can_transition(order.kind, order.status, target):
                if order.status is not target:
                    log.warning(
                        "order %s is %s; ignoring a later answer %s", order.id, order.status, target
                    )
                self._store_response(order, idem, on_commit)
                return order
            final = _Final(target, failure, channel_txn_id, latency_ms, idem, on_commit)
            if self._commit_final(order, final):
                self._tell_listeners(order)
                return order
            fresh = self.load(order.id)
            if fresh is None:
                raise InvariantViolation(f"order {order.id} vanished")
            order = fresh
        raise InvariantViolation(f"order {order.id} kept changing under {target}")

    def _commit_final(self, order: Order, final: _Final) -> bool:
        """The ledger step and the order's final state, its attempt, its event and its
        stored answer, in one transaction: the ledger writer's, when money moves (the
        order's writes join the group commit). False if the order changed meanwhile (its
        transfers, if any, are committed all the same: their ids make a retry a no-op)."""
        now = self.ctx.clock.now()
        saved: list[Order] = []

        def write(conn: Connection, results: list[str] | None = None) -> None:
            saved.clear()  # the writer runs this again if it retries the group
            if results is not None and not all(r in _LEDGER_DONE[final.target] for r in results):
                return  # refused: the order stays as it is (raised below)
            updated = _final_state(order, final, now)
            if self._write_final(conn, order, updated, final, now):
                saved.append(updated)

        transfers = self._ledger_step(order, final.target)
        if transfers:
            if order.channel:
                self.ensure_accounts(order, order.channel)
            results = self.ctx.ledger.submit_transfers(transfers, then=write).result()
            if not all(r in _LEDGER_DONE[final.target] for r in results):
                # The ledger refuses what would contradict an earlier step (a void after
                # a post): the order stays as it is and operations must look at it.
                raise InvariantViolation(
                    f"order {order.id} → {final.target}: ledger answered {results}"
                )
        else:
            with self.ctx.engine.connect().execution_options(**WRITER) as conn, conn.begin():
                write(conn)
        if not saved:
            return False
        _assign(order, saved[0])
        return True

    def _write_final(
        self, conn: Connection, order: Order, updated: Order, final: _Final, now: datetime
    ) -> bool:
        if not store.save_order(conn, updated):
            return False
        target, failure = final.target, final.failure
        if target is not OrderStatus.RETURNED:
            store.finish_open_attempt(
                conn,
                order_id=order.id,
                status=_attempt_status(target, failure),
                failure=failure
                or (
                    Failure(FailureClass.USER, "closed_unpaid")
                    if target is OrderStatus.CLOSED
                    else None
                ),
                finished_at=now,
                latency_ms=final.latency_ms,
            )
        if order.kind is OrderKind.REFUND and target is OrderStatus.FAILED and order.parent_id:
            store.release_refund(conn, payin_id=order.parent_id, amount=order.amount)
        view = order_view(updated)
        self.ctx.events(
            conn,
            merchant_id=order.merchant_id,
            type=f"{order.kind.value}.{target.value}",
            object_id=order.id,
            payload=view,
            now=now,
        )
        _save_answer(conn, self.ctx, final.idem, updated, view)
        if final.on_commit is not None:
            final.on_commit(conn)
        return True

    def _tell_listeners(self, order: Order) -> None:
        for listener in self.ctx.after_final:
            try:
                listener(replace(order))
            except Exception:
                # The order is final whatever a listener does; its sweep will catch up.
                log.exception("after-final listener failed on %s", order.id)

    def mark_processing(
        self,
        order: Order,
        result: ChannelResult | None,
        *,
        unknown: bool = False,
        idem: Idem | None = None,
        on_commit: Callable[[Connection], None] | None = None,
    ) -> Order:
        """The channel accepted the order (or we cannot tell): wait for its answer."""
        now = self.ctx.clock.now()
        for _ in range(5):
            if order.status is not OrderStatus.CREATED and not unknown:
                self._store_response(order, idem, on_commit)
                return order
            updated = replace(order)
            if order.status is OrderStatus.CREATED:
                updated.status = OrderStatus.PROCESSING
            updated.result_unknown = unknown
            if result is not None and result.channel_txn_id:
                updated.channel_txn_id = result.channel_txn_id
            updated.updated_at = now
            updated.next_query_at = next_query_at(
                order, now, self.ctx.query_schedule_s(order.channel)
            )
            with self.ctx.engine.connect().execution_options(**WRITER) as conn, conn.begin():
                if store.save_order(conn, updated):
                    if unknown:
                        store.finish_open_attempt(
                            conn,
                            order_id=order.id,
                            status="unknown",
                            failure=None,
                            finished_at=now,
                            latency_ms=None,
                        )
                    _save_answer(conn, self.ctx, idem, updated)
                    if on_commit is not None:
                        on_commit(conn)
                    _assign(order, updated)
                    return order
            fresh = self.load(order.id)
            if fresh is None:
                raise InvariantViolation(f"order {order.id} vanished")
            order = fresh
            if (
                order.status is not OrderStatus.CREATED
                and order.status is not OrderStatus.PROCESSING
            ):
                self._store_response(order, idem, on_commit)
                return order
        raise InvariantViolation(f"order {order.id} kept changing")

    def _store_response(
        self, order: Order, idem: Idem | None, on_commit: Callable[[Connection], None] | None
    ) -> None:
        if idem is None and on_commit is None:
            return
        with self.ctx.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            _save_answer(conn, self.ctx, idem, order)
            if on_commit is not None:
                on_commit(conn)

    def load(self, order_id: str) -> Order | None:
        with one_read(self.ctx.engine) as conn:
            return store.get_order(conn, order_id)

    def new_attempt(self, conn: Connection, order: Order, channel: str) -> str:
        attempt_id = ids.new_id("att")
        now = self.ctx.clock.now()
        store.insert_attempt(
            conn,
            attempt_id=attempt_id,
            order=order,
            channel=channel,
            business_date=self.ctx.business_date(now),
            started_at=now,
        )
        return attempt_id

    def reschedule(self, order: Order, *, now: datetime) -> None:
        """A query that found nothing new: try again later, per the schedule."""
        updated = replace(order)
        updated.query_attempts += 1
        schedule_s = self.ctx.query_schedule_s(order.channel)
        updated.next_query_at = next_query_at(updated, now, schedule_s)
        if updated.next_query_at <= now:
            updated.next_query_at = now + timedelta(seconds=schedule_s[0])
        with self.ctx.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.save_order(conn, updated)


_LEDGER_DONE: dict[OrderStatus, frozenset[str]] = {
    status: frozenset({"created", "exists"}) for status in OrderStatus
}
# A failure may find no hold to release: the process stopped after recording the order
# and before taking the hold. Nothing was reserved, so nothing is left to void.
_LEDGER_DONE[OrderStatus.FAILED] = frozenset({"created", "exists", "pending_transfer_not_found"})


def _save_answer(
    conn: Connection,
    ctx: PaymentsContext,
    idem: Idem | None,
    order: Order,
    view: Mapping[str, Any] | None = None,
) -> None:
    """Store the order (`view`, if already rendered) as the create request's answer, for
    replays of its key (sealed by the context's cipher)."""
    if idem is not None:
        store_idempotency.save_idempotent_response(
            conn,
            cipher=ctx.cipher,
            merchant_id=idem.merchant_id,
            key=idem.key,
            status_code=201,
            response=order_view(order) if view is None else view,
        )


@dataclass(frozen=True, slots=True)
class _Final:
    """What `Settler.finish` brings an order to, and what comes with it."""

    target: OrderStatus
    failure: Failure | None
    channel_txn_id: str | None
    latency_ms: int | None
    idem: Idem | None
    on_commit: Callable[[Connection], None] | None


def _final_state(order: Order, final: _Final, now: datetime) -> Order:
    updated = replace(order)
    updated.status = final.target
    updated.failure = final.failure
    updated.result_unknown = False
    updated.channel_txn_id = final.channel_txn_id or order.channel_txn_id
    updated.updated_at = now
    updated.finished_at = now
    updated.next_query_at = None
    return updated


NOT_PROCESSED = frozenset({"not_received"})
"""Failure codes of attempts the channel certainly never processed: like a 503, they
count as the channel's unavailability, not against its success rate."""


def _attempt_status(target: OrderStatus, failure: Failure | None) -> str:
    if target is OrderStatus.SUCCEEDED:
        return "succeeded"
    if failure is not None and failure.code in NOT_PROCESSED:
        return "unavailable"
    return "failed"


def _assign(order: Order, source: Order) -> None:
    for name in Order.__dataclass_fields__:
        setattr(order, name, getattr(source, name))
