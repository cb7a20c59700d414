"""What is sent to a channel for each kind of order, and sending again a payout or refund
whose create stopped after recording it (`Payments.send_recorded`).

A call is built once per order and given to `Steps.dispatch`, which may try it on more
than one channel (failover): it reads the order's channel when it runs, so the
notification URL is the one of the channel actually called.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from paycore.channels.model import (
    BankAccount,
    Channel,
    ChannelResult,
    Payer,
    PayinRequest,
    PayoutRequest,
    RefundRequest,
)
from paycore.errors import Rejected
from paycore.payments import bookkeeping as books
from paycore.payments.dispatch import IDEMPOTENCY_LEASE_S, Steps
from paycore.payments.janitor import NOT_FOUND_GRACE_S
from paycore.payments.model import Order, OrderKind, OrderStatus
from paycore.payments.settle import Idem, PaymentsContext

log = logging.getLogger(__name__)

ChannelCall = Callable[[Channel], ChannelResult]


def payin_call(ctx: PaymentsContext, order: Order, payer: Payer) -> ChannelCall:
    def call(channel: Channel) -> ChannelResult:
        return channel.pay_in(
            PayinRequest(
                reference=order.id,
                amount_minor=order.amount,
                currency=order.currency,
                payer=payer,
                description=order.description,
                expires_at=order.expires_at or order.created_at,
                notify_url=ctx.notify_url(order.channel or ""),
            )
        )

    return call


def payout_call(ctx: PaymentsContext, order: Order, account: BankAccount) -> ChannelCall:
    def call(channel: Channel) -> ChannelResult:
        return channel.pay_out(
            PayoutRequest(
                reference=order.id,
                amount_minor=order.amount,
                currency=order.currency,
                beneficiary=account,
                description=order.description,
                notify_url=ctx.notify_url(order.channel or ""),
            )
        )

    return call


def refund_call(ctx: PaymentsContext, order: Order, payin: Order) -> ChannelCall:
    def call(ch: Channel) -> ChannelResult:
        return ch.refund(
            RefundRequest(
                reference=order.id,
                payin_reference=payin.id,
                payin_channel_txn_id=payin.channel_txn_id,
                amount_minor=order.amount,
                currency=order.currency,
                notify_url=ctx.notify_url(payin.channel or ""),
            )
        )

    return call


def send_recorded(
    ctx: PaymentsContext,
    steps: Steps,
    order: Order,
    *,
    idempotency_key: str,
    reveal_party: Callable[[Order], dict[str, str]],
    payin_of: Callable[[Order], Order],
) -> Order:
    """Send `order` again if it is a payout or refund still `created`, old enough that its
    first request is over and young enough that the janitor has not taken it over (see
    `Payments.send_recorded`). `payin_of` loads a refund's pay-in."""
    if order.status is not OrderStatus.CREATED or order.kind is OrderKind.PAYIN:
        return order
    age_s = (ctx.clock.now() - order.created_at).total_seconds()
    if age_s < IDEMPOTENCY_LEASE_S:
        raise Rejected("request_in_progress", f"{order.id} may still be on its way")
    if order.channel is None or age_s >= NOT_FOUND_GRACE_S - IDEMPOTENCY_LEASE_S:
        return order
    idem = Idem(order.merchant_id, idempotency_key)
    if order.kind is OrderKind.PAYOUT:
        party = reveal_party(order)
        bank_code = str(order.party_masked.get("bank_code", ""))
        account = BankAccount(party["account_number"], party.get("name", ""), bank_code)
        steps.hold(order, idem, reason=books.REASON_PAYOUT)
        call = payout_call(ctx, order, account)
    else:
        payin = payin_of(order)
        steps.hold(order, idem, reason=books.REASON_REFUND)
        call = refund_call(ctx, order, payin)
    log.info("order %s: sent again after its create stopped", order.id)
    steps.dispatch(order, [order.channel], call, idem)
    return order
