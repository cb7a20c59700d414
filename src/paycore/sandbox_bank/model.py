"""The sandbox bank's own rules: its transactions, its failure mix and its reason codes.

Pure: no HTTP, no SQL. The bank speaks its own language here (bank transaction numbers,
reason codes, statuses); paycore's adapter (`paycore.channels.sandbox`) translates.
"""

from __future__ import annotations

import dataclasses
import enum
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from paycore.clock import Clock, SystemClock

if TYPE_CHECKING:  # config imports this module's codes; the decider only reads a mix
    from paycore.sandbox_bank.config import FaultMix

DEFAULT_MERCHANT_ID = "paycore"
DEFAULT_BANK_KEY_ID = "sandbox-bank"
DEFAULT_PORT = 8100
DEFAULT_DATA_DIR = "./var/sandbox-bank"

REFERENCE_LENGTH_MAX = 64
DESCRIPTION_LENGTH_MAX = 256
NAME_LENGTH_MAX = 128
URL_LENGTH_MAX = 2048
BODY_BYTES_MAX = 16_384
"""A request body larger than this is refused before it is parsed."""


class TxnType(enum.StrEnum):
    PAYIN = "payin"
    PAYOUT = "payout"
    REFUND = "refund"


class TxnStatus(enum.StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CLOSED = "closed"
    RETURNED = "returned"


FINAL = frozenset({TxnStatus.SUCCEEDED, TxnStatus.FAILED, TxnStatus.CLOSED, TxnStatus.RETURNED})

# -- reason codes ---------------------------------------------------------------------------
# The bank's own codes; paycore's adapter maps each to a failure class in one table.

PAYIN_USER_DECLINES = ("insufficient_funds", "card_declined", "invalid_card", "payer_cancelled")
PAYOUT_USER_DECLINES = ("account_closed", "name_mismatch")
CHANNEL_DECLINES = {
    TxnType.PAYIN: "issuer_unavailable",
    TxnType.PAYOUT: "clearing_failed",
    TxnType.REFUND: "clearing_failed",
}
RETURN_REASON = "account_closed"
"""Why a paid payout comes back: the beneficiary bank found the account closed."""

INVALID_REQUEST = "invalid_request"
REFERENCE_CONFLICT = "reference_conflict"
PAYIN_NOT_FOUND = "payin_not_found"
PAYIN_NOT_REFUNDABLE = "payin_not_refundable"
REFUND_EXCEEDS_REFUNDABLE = "refund_exceeds_refundable"
PAYIN_EXPIRED = "payin_expired"


class Transport(enum.Enum):
    """How the bank answers one create request, whatever the business result."""

    NORMAL = "normal"
    UNAVAILABLE = "unavailable"  # 503, nothing processed
    ERROR_AFTER = "error_after"  # recorded, then 500: result unknown to the caller
    SLOW = "slow"  # recorded, answered only after FaultMix.timeout_delay_s


# -- transactions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Txn:
    """One transaction as the bank records it. Closed-unknown pay-ins have amount 0."""

    bank_txn_no: str
    merchant_id: str
    type: TxnType
    reference: str
    amount_minor: int
    currency: str
    status: TxnStatus
    created_at: datetime
    notify_url: str = ""
    payin_reference: str = ""  # refunds: the pay-in refunded
    account_hint: str = ""  # masked card (6+4) or account (last 4): never the full number
    failure_code: str = ""
    failure_message: str = ""
    fee_minor: int = 0
    finished_at: datetime | None = None
    returned_at: datetime | None = None
    # What the bank has decided but not yet revealed:
    planned_status: TxnStatus | None = None
    planned_failure_code: str = ""
    completes_at: datetime | None = None
    silent: bool = False  # no notification: the caller learns the result only by query
    return_at: datetime | None = None

    def view(self) -> dict[str, Any]:
        """The transaction as the bank's API shows it."""
        return {
            "bank_txn_no": self.bank_txn_no,
            "type": self.type.value,
            "reference": self.reference,
            "payin_reference": self.payin_reference or None,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "fee_minor": self.fee_minor,
            "status": self.status.value,
            "failure_code": self.failure_code or None,
            "failure_message": self.failure_message or None,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "returned_at": self.returned_at.isoformat() if self.returned_at else None,
        }

    def same_request(self, amount_minor: int, currency: str, payin_reference: str = "") -> bool:
        return (self.amount_minor, self.currency, self.payin_reference) == (
            amount_minor,
            currency,
            payin_reference,
        )

    @property
    def is_close_marker(self) -> bool:
        """A pay-in closed before it ever arrived: any later create returns it, closed."""
        return self.type is TxnType.PAYIN and self.amount_minor == 0


FAILURE_MESSAGES = {
    "insufficient_funds": "the card has insufficient funds",
    "card_declined": "the issuer declined the card",
    "invalid_card": "the card number is not valid",
    "payer_cancelled": "the payer cancelled the payment",
    "account_closed": "the beneficiary account is closed",
    "name_mismatch": "the beneficiary name does not match the account",
    "issuer_unavailable": "the card issuer did not answer",
    "clearing_failed": "the clearing network rejected the transfer",
    INVALID_REQUEST: "the bank rejected the request parameters",
    PAYIN_NOT_FOUND: "no such pay-in",
    PAYIN_NOT_REFUNDABLE: "the pay-in is not paid",
    REFUND_EXCEEDS_REFUNDABLE: "the refund is more than the paid amount left to refund",
    PAYIN_EXPIRED: "the pay-in expired before it reached the bank",
}


def completed(txn: Txn, *, now: datetime, fee_bps: int) -> Txn:
    """A processing transaction at its planned final status."""
    status = txn.planned_status or TxnStatus.SUCCEEDED
    code = txn.planned_failure_code if status is TxnStatus.FAILED else ""
    fee = fee_for(txn, fee_bps) if status is TxnStatus.SUCCEEDED else 0
    return dataclasses.replace(
        txn,
        status=status,
        failure_code=code,
        failure_message=FAILURE_MESSAGES.get(code, ""),
        fee_minor=fee,
        finished_at=now,
        planned_status=None,
        planned_failure_code="",
        completes_at=None,
    )


def fee_for(txn: Txn, fee_bps: int) -> int:
    """The bank's fee on a paid pay-in, rounded half up; nothing on other types."""
    if txn.type is not TxnType.PAYIN or fee_bps <= 0:  # pragma: no mutate: equivalent, 0 bps is 0
        return 0
    return (txn.amount_minor * fee_bps + 5_000) // 10_000


def returned(txn: Txn, *, now: datetime) -> Txn:
    """The beneficiary's bank sent a paid payout back. A return is an event of its own,
    notified like any other even when the payout's success was never notified."""
    return dataclasses.replace(
        txn,
        status=TxnStatus.RETURNED,
        silent=False,
        returned_at=now,
        return_at=None,
        failure_code=RETURN_REASON,
        failure_message=FAILURE_MESSAGES[RETURN_REASON],
    )


def refundable_minor(payin: Txn, refunds_reserved_minor: int) -> int:
    """What is left to refund: the paid amount minus refunds succeeded or in progress."""
    if payin.status is not TxnStatus.SUCCEEDED:
        return 0
    return max(payin.amount_minor - refunds_reserved_minor, 0)


def refund_refusal(payin: Txn | None, amount_minor: int, currency: str, reserved: int) -> str:
    """Why a refund of `payin` is refused, or "" when it may go ahead."""
    if payin is None or payin.is_close_marker:
        return PAYIN_NOT_FOUND
    if payin.currency != currency:
        return INVALID_REQUEST
    if payin.status is not TxnStatus.SUCCEEDED:
        return PAYIN_NOT_REFUNDABLE
    if amount_minor > refundable_minor(payin, reserved):
        return REFUND_EXCEEDS_REFUNDABLE
    return ""


# -- the bank's decisions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one new transaction, drawn once when it arrives."""

    status: TxnStatus  # the final status it will reach
    failure_code: str = ""
    synchronous: bool = False  # answered in the response, not later
    silent: bool = False  # never notified
    complete_after_s: float = 0.0


def refusal(code: str) -> Decision:
    """A request the bank refuses outright: answered at once, recorded, never notified."""
    return Decision(TxnStatus.FAILED, code, synchronous=True, silent=True)


class Decider:
    """Draws transport faults and outcomes from one seeded RNG (thread-safe)."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._rng.uniform(low, high)

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def transport(self, mix: FaultMix) -> Transport:
        with self._lock:
            draw = self._rng.random()
        for rate, transport in (
            (mix.unavailable_rate, Transport.UNAVAILABLE),
            (mix.error_after_rate, Transport.ERROR_AFTER),
            (mix.timeout_rate, Transport.SLOW),
        ):
            if draw < rate:
                return transport
            draw -= rate
        return Transport.NORMAL

    def outcome(self, mix: FaultMix, kind: TxnType) -> Decision:
        with self._lock:
            draw = self._rng.random()
            synchronous = self._rng.random() < mix.sync_rate
            delay = self._rng.uniform(mix.complete_min_s, mix.complete_max_s)
            pick = self._rng.random()
        if draw < mix.invalid_request_rate:
            return refusal(INVALID_REQUEST)
        draw -= mix.invalid_request_rate
        # A refund has no payer to decline it: only the bank itself can fail one.
        user_rate = 0.0 if kind is TxnType.REFUND else mix.decline_rate
        if draw < user_rate:
            declines = PAYOUT_USER_DECLINES if kind is TxnType.PAYOUT else PAYIN_USER_DECLINES
            code = declines[min(int(pick * len(declines)), len(declines) - 1)]
            return Decision(TxnStatus.FAILED, code, synchronous, complete_after_s=delay)
        draw -= user_rate
        if draw < mix.channel_decline_rate:
            code = CHANNEL_DECLINES[kind]
            return Decision(TxnStatus.FAILED, code, synchronous, complete_after_s=delay)
        draw -= mix.channel_decline_rate
        if draw < mix.unknown_rate:
            return Decision(TxnStatus.SUCCEEDED, silent=True, complete_after_s=delay)
        return Decision(TxnStatus.SUCCEEDED, synchronous=synchronous, complete_after_s=delay)


class ShiftedClock:
    """Another clock moved forward by /admin/advance, so a test can skip a day."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return self._base.now().astimezone(UTC) + offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()
