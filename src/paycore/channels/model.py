"""What a payment channel is, seen from paycore: one protocol, plain values, three errors.

A channel is a bank, an acquirer or a clearing network. Every adapter (the sandbox
bank, a bank host-to-host link, ...) implements `Channel`; the payments slice talks to
nothing else. Exceptions say what paycore may safely do next:

ChannelError
 ├── ChannelUnavailable   the request was certainly NOT processed: fail over is safe
 ├── ChannelTimeout       the request may or may not have been processed: result unknown,
 │                        query back later, never retry elsewhere (that could pay twice)
 └── BadNotification      a callback that is malformed or not signed by the channel
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from paycore.errors import PaycoreError


class Operation(enum.StrEnum):
    PAYIN = "payin"
    PAYOUT = "payout"
    REFUND = "refund"


class FailureClass(enum.StrEnum):
    """Who caused a failure. Effective success rates leave out USER and MERCHANT."""

    USER = "user"  # insufficient funds, wrong card, payer cancelled
    MERCHANT = "merchant"  # bad parameters sent by the merchant
    CHANNEL = "channel"  # the bank or network failed
    SYSTEM = "system"  # paycore failed


class ChannelStatus(enum.StrEnum):
    """What the channel says about one operation."""

    PROCESSING = "processing"  # accepted; the final result comes by notification or query
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CLOSED = "closed"  # an unpaid pay-in the channel has closed: it can no longer be paid
    RETURNED = "returned"  # a payout that succeeded and was later bounced back
    NOT_FOUND = "not_found"  # the channel never received it (only from query)


@dataclass(frozen=True, slots=True)
class ChannelResult:
    status: ChannelStatus
    channel_txn_id: str | None = None
    failure_code: str | None = None  # the channel's reason, e.g. insufficient_funds
    failure_class: FailureClass | None = None  # set when status is FAILED
    failure_message: str = ""
    finished_at: datetime | None = None  # when the channel reached a final status


@dataclass(frozen=True, slots=True)
class Payer:
    """Personal financial information: only ever in memory in clear; stored encrypted."""

    card_number: str
    name: str = ""
    id_number: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class BankAccount:
    account_number: str
    name: str
    bank_code: str = ""


@dataclass(frozen=True, slots=True)
class PayinRequest:
    reference: str  # paycore's order id; the channel's idempotency key
    amount_minor: int
    currency: str
    payer: Payer
    description: str
    expires_at: datetime
    notify_url: str


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    reference: str
    amount_minor: int
    currency: str
    beneficiary: BankAccount
    description: str
    notify_url: str


@dataclass(frozen=True, slots=True)
class RefundRequest:
    reference: str  # the refund's id
    payin_reference: str  # the pay-in being refunded
    payin_channel_txn_id: str | None
    amount_minor: int
    currency: str
    notify_url: str


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified callback: the channel's final word on one operation."""

    notification_id: str  # the channel's id of this callback; duplicates repeat it
    operation: Operation
    reference: str
    result: ChannelResult


class Channel(Protocol):
    """One payment channel. Every call has a timeout; none is made inside a DB transaction."""

    name: str

    def pay_in(self, request: PayinRequest) -> ChannelResult: ...

    def pay_out(self, request: PayoutRequest) -> ChannelResult: ...

    def refund(self, request: RefundRequest) -> ChannelResult: ...

    def query(self, operation: Operation, reference: str) -> ChannelResult:
        """The channel's current status of one operation (NOT_FOUND if it never arrived)."""
        ...

    def close(self, reference: str) -> ChannelResult:
        """Close an unpaid pay-in so it can no longer be paid; returns its final status."""
        ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify the signature and parse a callback; raises BadNotification."""
        ...

    def fetch_statement(self, day: date) -> bytes:
        """The channel's statement file for one business day, as the channel sends it."""
        ...

    def probe(self) -> None:
        """A cheap health call; raises ChannelUnavailable or ChannelTimeout when unhealthy."""
        ...


class ChannelError(PaycoreError):
    def __init__(self, channel: str, detail: str) -> None:
        super().__init__(f"{channel}: {detail}")
        self.channel = channel
        self.detail = detail


class ChannelUnavailable(ChannelError):
    """Not processed: connection refused, 503 before processing, circuit open."""


class ChannelTimeout(ChannelError):
    """Sent but unanswered (timeout, hang, 5xx after sending): the result is unknown."""


class BadNotification(ChannelError):
    def __init__(self, channel: str, code: str, detail: str) -> None:
        super().__init__(channel, detail)
        self.code = code  # bad_signature | malformed_notification | stale_notification
