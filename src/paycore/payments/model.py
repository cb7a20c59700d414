"""Pay-in, payout and refund orders: their state machines and the rules on amounts.

Pure: no SQL, no HTTP. The service loads an order, asks these rules what may happen,
and saves the outcome together with the ledger transfers and the merchant event.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from paycore import limits
from paycore.channels.model import ChannelResult, ChannelStatus, FailureClass
from paycore.errors import Rejected
from paycore.money import is_known_currency


class OrderKind(enum.StrEnum):
    PAYIN = "payin"
    PAYOUT = "payout"
    REFUND = "refund"


class OrderStatus(enum.StrEnum):
    CREATED = "created"  # recorded; the channel has not answered yet
    PROCESSING = "processing"  # the channel accepted it, or its answer is unknown
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CLOSED = "closed"  # a pay-in that expired or was closed unpaid
    RETURNED = "returned"  # a payout the beneficiary's bank sent back after success


ID_PREFIX = {OrderKind.PAYIN: "pay", OrderKind.PAYOUT: "po", OrderKind.REFUND: "rf"}

_C, _P, _S, _F, _X, _R = (
    OrderStatus.CREATED,
    OrderStatus.PROCESSING,
    OrderStatus.SUCCEEDED,
    OrderStatus.FAILED,
    OrderStatus.CLOSED,
    OrderStatus.RETURNED,
)

TRANSITIONS: Mapping[OrderKind, Mapping[OrderStatus, frozenset[OrderStatus]]] = {
    OrderKind.PAYIN: {
        _C: frozenset({_P, _S, _F, _X}),
        _P: frozenset({_S, _F, _X}),
    },
    OrderKind.PAYOUT: {
        _C: frozenset({_P, _S, _F}),
        _P: frozenset({_S, _F}),
        # The only way out of success: the money comes back days later.
        _S: frozenset({_R}),
    },
    OrderKind.REFUND: {
        _C: frozenset({_P, _S, _F}),
        _P: frozenset({_S, _F}),
    },
}


def can_transition(kind: OrderKind, source: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS[kind].get(source, frozenset())


def is_terminal(kind: OrderKind, status: OrderStatus) -> bool:
    """No further change can come (a succeeded payout can still be returned)."""
    return not TRANSITIONS[kind].get(status)


def is_resolved(status: OrderStatus) -> bool:
    """The money question is answered: nothing for the janitor to chase."""
    return status not in (OrderStatus.CREATED, OrderStatus.PROCESSING)


def target_status(kind: OrderKind, result: ChannelResult) -> OrderStatus | None:
    """The order status a channel's answer leads to; None while it is still undecided."""
    match result.status:
        case ChannelStatus.SUCCEEDED:
            return OrderStatus.SUCCEEDED
        case ChannelStatus.FAILED:
            return OrderStatus.FAILED
        case ChannelStatus.CLOSED:
            return OrderStatus.CLOSED if kind is OrderKind.PAYIN else OrderStatus.FAILED
        case ChannelStatus.RETURNED:
            return OrderStatus.RETURNED if kind is OrderKind.PAYOUT else None
        case _:
            return None


@dataclass(frozen=True, slots=True)
class Failure:
    failure_class: FailureClass
    code: str
    message: str = ""


@dataclass(slots=True)
class Order:
    id: str
    kind: OrderKind
    merchant_id: str
    product: str
    amount: int
    currency: str
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    merchant_reference: str | None = None
    description: str = ""
    fee_amount: int = 0
    result_unknown: bool = False
    channel: str | None = None
    channel_txn_id: str | None = None
    failure: Failure | None = None
    parent_id: str | None = None
    refunded_amount: int = 0
    party_enc: Mapping[str, str] = field(default_factory=dict)
    party_masked: Mapping[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None
    finished_at: datetime | None = None
    next_query_at: datetime | None = None
    query_attempts: int = 0
    version: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    details_enc: str | None = None
    """`description` and `metadata` as stored: one sealed token (payments/details.py),
    None for an order with neither, or one saved in clear before migration 0029."""

    @property
    def refundable(self) -> int:
        if self.kind is not OrderKind.PAYIN or self.status is not OrderStatus.SUCCEEDED:
            return 0
        return self.amount - self.refunded_amount


# -- input rules ------------------------------------------------------------------------

NEVER_REACHED_CODES = frozenset(
    {"not_received", "not_sent", "all_channels_unavailable", "no_channel_available"}
)
"""Failures of orders no channel ever processed: a new order for the same money cannot
pay twice, so the flow that owns the order may try again."""


def never_reached_bank(order: Order) -> bool:
    return (
        order.status is OrderStatus.FAILED
        and order.failure is not None
        and order.failure.code in NEVER_REACHED_CODES
    )


# The API document shows these patterns; checked with fullmatch, since `match` lets `$`
# pass a final line feed ("rent\n").
PRODUCT_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
REFERENCE_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
_PRODUCT = re.compile(PRODUCT_PATTERN)
_REFERENCE = re.compile(REFERENCE_PATTERN)


def check_amount(amount: int, currency: str) -> None:
    if not is_known_currency(currency):
        raise Rejected("unknown_currency", f"{currency!r} is not an ISO 4217 currency")
    if amount <= 0:
        raise Rejected("amount_must_be_positive", "amount is in minor units and above zero")
    if amount > limits.PAYMENT_AMOUNT_MAX:
        raise Rejected(
            "amount_too_large", f"one payment moves at most {limits.PAYMENT_AMOUNT_MAX} minor units"
        )


def check_product(product: str) -> None:
    if not _PRODUCT.fullmatch(product):
        raise Rejected("invalid_product", "product is lowercase letters, digits and _ (<= 32)")


def check_reference(reference: str | None) -> None:
    if reference is not None and not _REFERENCE.fullmatch(reference):
        raise Rejected("invalid_merchant_reference", "1-64 of A-Z a-z 0-9 _ . : -")


def payin_expiry(now: datetime, expires_in_s: int | None) -> datetime:
    seconds = limits.PAYIN_EXPIRY_S_DEFAULT if expires_in_s is None else expires_in_s
    if not limits.PAYIN_EXPIRY_S_MIN <= seconds <= limits.PAYIN_EXPIRY_S_MAX:
        raise Rejected(
            "invalid_expiry",
            f"expires_in_s is between {limits.PAYIN_EXPIRY_S_MIN} and {limits.PAYIN_EXPIRY_S_MAX}",
        )
    return now + timedelta(seconds=seconds)


def fee_for(amount: int, fee_bps: int) -> int:
    """The merchant's fee on a pay-in: basis points, rounded half up to a minor unit."""
    return (amount * fee_bps + 5_000) // 10_000


def check_refund(payin: Order, amount: int) -> None:
    check_refund_request(payin, amount)
    if amount > payin.refundable:
        raise Rejected(
            "refund_exceeds_refundable",
            f"{amount} is more than the {payin.refundable} still refundable on {payin.id}",
        )


def check_refund_request(payin: Order, amount: int) -> None:
    """What a refund request must be, whatever has been refunded so far."""
    if payin.kind is not OrderKind.PAYIN:
        raise Rejected("not_a_payin", f"{payin.id} is a {payin.kind}")
    if payin.status is not OrderStatus.SUCCEEDED:
        raise Rejected("payin_not_succeeded", f"{payin.id} is {payin.status}, not paid")
    if amount <= 0:
        raise Rejected("amount_must_be_positive", "amount is in minor units and above zero")


# -- the janitor's schedule -------------------------------------------------------------


def next_query_at(order: Order, now: datetime, schedule_s: tuple[int, ...]) -> datetime:
    """When the janitor asks again: the schedule's step for this many tries (the last step
    repeats forever), and never after a pay-in's expiry, when it must be closed."""
    step = schedule_s[min(order.query_attempts, len(schedule_s) - 1)]
    due = now + timedelta(seconds=step)
    if order.kind is OrderKind.PAYIN and order.expires_at is not None:
        due = min(due, max(order.expires_at, now))
    return due


# -- success rates ----------------------------------------------------------------------

PROBE_MERCHANT_ID = "mch_probe"
"""The merchant of the ops prober's synthetic pay-ins (ops/prober.py): real orders through
real channels that measure availability, but not merchants' traffic, so success rates,
their SLOs and incident impact leave them out unless asked for this merchant by name."""


@dataclass(frozen=True, slots=True)
class RateRow:
    """Attempts of one product on one channel on one business day."""

    day: str
    kind: str
    product: str
    channel: str
    succeeded: int
    failed_user: int
    failed_merchant: int
    failed_channel: int
    failed_system: int
    unresolved: int
    unavailable: int = 0
    """Refused before processing (503, open circuit): the order failed over, so these
    count against the channel's availability, not its success rate."""

    @property
    def decided(self) -> int:
        return (
            self.succeeded
            + self.failed_user
            + self.failed_merchant
            + self.failed_channel
            + self.failed_system
        )

    @property
    def raw_rate(self) -> float | None:
        """Successes over every decided attempt. A ratio for display, not money."""
        return self.succeeded / self.decided if self.decided else None

    @property
    def effective_rate(self) -> float | None:
        """Failures the payer or the merchant caused do not count against the system."""
        counted = self.succeeded + self.failed_channel + self.failed_system
        return self.succeeded / counted if counted else None
