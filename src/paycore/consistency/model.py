"""What each flow's records say the ledger must hold, and the code of every disagreement.

Pure: the store reads facts (an order's status next to the status of its ledger
transfers); these rules say whether they agree. The tables below are also what the
store turns into SQL, so the database filters with the same rules it is judged by.

A flow moves the ledger first and then its own record, so for a short while a record
may lag the ledger by a transfer of the flow's *own* id: that is in flight, not a
disagreement, for `IN_FLIGHT_GRACE_S`. A transfer with any other id (a void through
the ledger API, say) is never in flight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

IN_FLIGHT_GRACE_S = 300
"""How long a record may lag its flow's own ledger transfer (a crash between the two is
finished by the flow's janitor or sweep, which runs far more often)."""

DISAGREEMENTS_KEPT = 1_000
"""A check names at most this many disagreements; it still counts them all."""

PAGE_ROWS = 5_000
"""Records read per statement: a big table is checked in pages, never in one scan."""

MISSING = "missing"
"""The status of a transfer the ledger does not have."""

LIVE = "pending"
POSTED_HOLD = "pending_posted"
VOIDED_HOLD = "pending_voided"
EXPIRED_HOLD = "pending_expired"
POSTED = "posted"


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One record of a flow that the ledger contradicts."""

    code: str  # stable snake_case, e.g. payout_processing_without_live_hold
    subject_id: str  # the order, split, receipt, attempt or reward row
    transfer_id: str  # the ledger transfer the rule looked at
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.subject_id} ({self.transfer_id}) {self.detail}"


# -- payments: payouts and refunds hold the merchant's money --------------------------------

HOLD_ALLOWED: Mapping[tuple[str, str], frozenset[str]] = {
    # The hold is taken right after the order is recorded: a crash between leaves none,
    # and the janitor fails the order with nothing to release.
    ("payout", "created"): frozenset({MISSING, LIVE}),
    ("payout", "processing"): frozenset({LIVE}),
    ("payout", "succeeded"): frozenset({POSTED_HOLD}),
    ("payout", "returned"): frozenset({POSTED_HOLD}),
    ("payout", "failed"): frozenset({MISSING, VOIDED_HOLD, EXPIRED_HOLD}),
    ("refund", "created"): frozenset({MISSING, LIVE}),
    ("refund", "processing"): frozenset({LIVE}),
    ("refund", "succeeded"): frozenset({POSTED_HOLD}),
    ("refund", "failed"): frozenset({MISSING, VOIDED_HOLD, EXPIRED_HOLD}),
}
"""(kind, order status) -> the statuses its hold `tr_{order}_hold` may have."""

LEGS_REQUIRED: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("payout", "succeeded"): ("post", "out"),
    ("payout", "returned"): ("post", "out", "ret"),
    ("refund", "succeeded"): ("post", "out"),
}
"""The flow's own transfers (`tr_{order}_{leg}`) a settled order must have."""


def hold_transfer_id(order_id: str, leg: str = "hold") -> str:
    return f"tr_{order_id}_{leg}"


@dataclass(frozen=True, slots=True)
class HoldFacts:
    order_id: str
    kind: str
    status: str
    updated_at: datetime
    hold_status: str  # MISSING when the ledger has no hold
    legs: Mapping[str, datetime]  # the flow's own transfers that exist, with created_at


def hold_disagreement(facts: HoldFacts, *, now: datetime) -> Disagreement | None:
    key = (facts.kind, facts.status)
    allowed = HOLD_ALLOWED.get(key)
    hold_id = hold_transfer_id(facts.order_id)
    if allowed is not None and facts.hold_status not in allowed:
        if _in_flight(facts, now=now):
            return None
        return Disagreement(
            _hold_code(facts.kind, facts.status, facts.hold_status),
            facts.order_id,
            hold_id,
            f"order is {facts.status}, its hold is {facts.hold_status}",
        )
    for leg in LEGS_REQUIRED.get(key, ()):
        if leg not in facts.legs:
            code = f"{facts.kind}_{facts.status}_" + (
                "not_credited_back" if leg == "ret" else "hold_not_posted"
            )
            return Disagreement(
                code,
                facts.order_id,
                hold_transfer_id(facts.order_id, leg),
                f"order is {facts.status}, its transfer {leg} is missing",
            )
    return None


def _hold_code(kind: str, status: str, hold_status: str) -> str:
    if status in ("created", "processing"):
        return f"{kind}_{status}_without_live_hold"
    if status in ("succeeded", "returned"):
        return f"{kind}_{status}_hold_not_posted"
    return f"{kind}_{status}_hold_" + ("posted" if hold_status == POSTED_HOLD else "live")


def _in_flight(facts: HoldFacts, *, now: datetime) -> bool:
    """An open order whose hold the flow itself settled moments ago: the order's own
    update is on its way."""
    if facts.status not in ("created", "processing"):
        return False
    own = {POSTED_HOLD: "post", VOIDED_HOLD: "void"}.get(facts.hold_status)
    at = facts.legs.get(own) if own else None
    return at is not None and now - at < timedelta(seconds=IN_FLIGHT_GRACE_S)


# -- payments: a pay-in is settled into the merchant's wallet once it succeeded -------------


@dataclass(frozen=True, slots=True)
class PayinFacts:
    order_id: str
    status: str
    net_amount: int  # amount - fee: what the capture moves (0: only the fee leg)
    settled_at: datetime | None  # created_at of the capture (or fee) leg; None: none


def payin_disagreement(facts: PayinFacts, *, now: datetime) -> Disagreement | None:
    leg = "cap" if facts.net_amount else "fee"
    transfer_id = hold_transfer_id(facts.order_id, leg)
    if facts.status == "succeeded":
        if facts.settled_at is None:
            return Disagreement(
                "payin_succeeded_not_settled", facts.order_id, transfer_id,
                "paid, but nothing reached the merchant's wallet",
            )  # fmt: skip
        return None
    if facts.settled_at is None:
        return None
    open_order = facts.status in ("created", "processing")
    if open_order and now - facts.settled_at < timedelta(seconds=IN_FLIGHT_GRACE_S):
        return None
    return Disagreement(
        f"payin_{facts.status}_settled", facts.order_id, transfer_id,
        f"order is {facts.status}, yet the merchant's wallet was credited",
    )  # fmt: skip


# -- split: each leg's transfer is in the state the leg says --------------------------------

LEG_ALLOWED: Mapping[str, frozenset[str]] = {
    # The ledger expires an unconfirmed leg before the split's tick marks it expired.
    "pending": frozenset({LIVE, EXPIRED_HOLD}),
    "posted": frozenset({POSTED, POSTED_HOLD}),
    "voided": frozenset({VOIDED_HOLD}),
    "expired": frozenset({EXPIRED_HOLD}),
    "planned": frozenset({MISSING}),
}
"""A split leg's state -> the statuses of the transfer it names."""

LEG_CODES: Mapping[str, str] = {
    "pending": "split_frozen_leg_without_live_hold",
    "posted": "split_posted_leg_not_posted",
    "voided": "split_voided_leg_not_voided",
    "expired": "split_expired_leg_not_expired",
    "planned": "split_planned_leg_moved",
}


def split_leg_disagreement(
    *, split_id: str, leg_key: str, leg_state: str, transfer_id: str, transfer_status: str
) -> Disagreement | None:
    allowed = LEG_ALLOWED.get(leg_state)
    if allowed is None or transfer_status in allowed:
        return None
    return Disagreement(
        LEG_CODES[leg_state], split_id, transfer_id,
        f"leg {leg_key} is {leg_state}, its transfer is {transfer_status}",
    )  # fmt: skip


# -- custody, collection and rewards: a money movement exists exactly when it is recorded ----

SINGLE_CODES: Mapping[str, str] = {
    "custody_landed": "custody_receipt_in_custody_without_transfer",
    "custody_landing": "custody_receipt_landing_but_moved",
    "collection_succeeded": "collection_succeeded_not_posted",
    "collection_failed": "collection_failed_transfer_posted",
    "collection_captured": "collection_captured_payin_not_succeeded",
    "reward_paid": "reward_paid_not_posted",
    "reward_failed": "reward_failed_transfer_posted",
}
"""The codes of rules that ask one question of one transfer: does it exist (posted, for
the recorded amount) or not. Each names what the record says."""
