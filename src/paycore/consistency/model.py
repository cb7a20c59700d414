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
from typing import Any

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
    amount: int = 0  # the order's
    leg_amounts: Mapping[str, int] | None = None  # what each own transfer that exists moved


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
    return _amount_disagreement(facts)


def _amount_disagreement(facts: HoldFacts) -> Disagreement | None:
    """Each own transfer moves the order's amount: the hold holds it, the post posts all of
    it (a partial post released the rest to the wallet), out and ret carry it on."""
    for leg, moved in (facts.leg_amounts or {}).items():
        if moved == facts.amount:
            continue
        code = f"{facts.kind}_{'hold' if leg in ('hold', 'post') else leg}_amount_differs"
        return Disagreement(
            code, facts.order_id, hold_transfer_id(facts.order_id, leg),
            f"order is for {facts.amount}, its transfer {leg} moved {moved}",
        )  # fmt: skip
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
    fee_amount: int = 0
    captured: int = 0  # what the capture leg moved (0: none)
    fee_taken: int = 0  # what the fee leg moved (0: none)


def payin_disagreement(facts: PayinFacts, *, now: datetime) -> Disagreement | None:
    leg = "cap" if facts.net_amount else "fee"
    transfer_id = hold_transfer_id(facts.order_id, leg)
    if facts.status == "succeeded":
        if facts.settled_at is None:
            return Disagreement(
                "payin_succeeded_not_settled", facts.order_id, transfer_id,
                "paid, but nothing reached the merchant's wallet",
            )  # fmt: skip
        if (facts.captured, facts.fee_taken) != (facts.net_amount, facts.fee_amount):
            return Disagreement(
                "payin_capture_amount_differs", facts.order_id, transfer_id,
                f"order is {facts.net_amount} net + {facts.fee_amount} fee, the ledger "
                f"moved {facts.captured} + {facts.fee_taken}",
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


LEG_AMOUNT: Mapping[tuple[str, str], str] = {
    (LIVE, "pending"): "frozen",
    (POSTED, "posted"): "received",
}
"""(transfer status, leg state) -> the field of the leg the transfer's amount must equal: a
live hold holds what is frozen, a plain move moved what the leg received. A posted hold is
not compared: a confirm may post part of it, and the post's own id is not on the leg."""


def split_leg_disagreement(
    *,
    split_id: str,
    leg: Mapping[str, Any],
    transfer_status: str,
    transfer_amount: int | None = None,
) -> Disagreement | None:
    state, transfer_id = leg["state"], leg["transfer_id"]
    allowed = LEG_ALLOWED.get(state)
    if allowed is None:
        return None
    if transfer_status not in allowed:
        return Disagreement(
            LEG_CODES[state], split_id, transfer_id,
            f"leg {leg['key']} is {state}, its transfer is {transfer_status}",
        )  # fmt: skip
    field = LEG_AMOUNT.get((transfer_status, state))
    if field is None or transfer_amount is None or transfer_amount == leg[field]:
        return None
    return Disagreement(
        "split_leg_amount_differs", split_id, transfer_id,
        f"leg {leg['key']} has {leg[field]} {field}, its transfer moved {transfer_amount}",
    )  # fmt: skip


# -- custody, collection and rewards: a money movement exists exactly when it is recorded ----

SINGLE_CODES: Mapping[str, str] = {
    "collection_succeeded": "collection_succeeded_not_posted",
    "collection_failed": "collection_failed_transfer_posted",
    "collection_captured": "collection_captured_payin_not_succeeded",
    "reward_paid": "reward_paid_not_posted",
    "reward_failed": "reward_failed_transfer_posted",
}
"""The codes of rules that ask one question of one transfer: does it exist (posted, for
the recorded amount) or not. Each names what the record says."""


# -- custody: each receipt's moves across the custody boundary, and each deal's close --------

MOVED_BACK_STEPS = frozenset({"moved_back", "refund_requested", "reported"})
"""Cut-off steps at which the receipt's money has left custody (`back`) for its refund."""

Seen = tuple[str, datetime, int]
"""A transfer the ledger holds: (status, created_at, amount)."""


def receipt_ids(receipt_id: str, kind: str, move_attempt: int) -> list[str]:
    """Every id a receipt's move of `kind` (`in`, `back`, `ret`) may have had: a refused id
    is never reused and every refused move of the receipt takes the next attempt number,
    so the move that landed is the last of these that exists."""
    return [f"tr_cus_{receipt_id}_{kind}{n}" for n in range(move_attempt + 1)]


def receipt_disagreements(
    receipt: Mapping[str, Any], found: Mapping[str, Seen], *, now: datetime
) -> list[Disagreement]:
    """A receipt's record against its moves: into custody once it landed, back out once
    the cut-off moved it, back in (`ret`) once its refund failed; each for its amount. A
    refunded receipt's refund order succeeded (`refund_status`)."""
    rid, status, step = receipt["id"], receipt["status"], receipt["cutoff_step"]
    moves = {
        kind: [t for t in receipt_ids(rid, kind, receipt["move_attempt"]) if t in found]
        for kind in ("in", "back", "ret")
    }
    expected = {
        "in": status != "landing",
        "back": step in MOVED_BACK_STEPS,
        "ret": status == "refund_failed",
    }
    out: list[Disagreement] = []
    for kind, should in expected.items():
        ids = moves[kind]
        if should and not ids:
            last = receipt_ids(rid, kind, receipt["move_attempt"])[-1]
            out.append(Disagreement(
                RECEIPT_MISSING[kind], rid, last,
                f"receipt is {status} ({step or 'no cut-off'}), yet its move {kind} is missing",
            ))  # fmt: skip
        elif not should and ids:
            _status, at, _amount = found[ids[-1]]
            if now - at >= timedelta(seconds=IN_FLIGHT_GRACE_S):  # else its update follows
                out.append(Disagreement(
                    RECEIPT_UNEXPECTED[kind], rid, ids[-1],
                    f"receipt is {status} ({step or 'no cut-off'}), yet it was moved {kind}",
                ))  # fmt: skip
        elif ids and found[ids[-1]][2] != receipt["amount"]:
            out.append(Disagreement(
                "custody_receipt_amount_differs", rid, ids[-1],
                f"receipt is for {receipt['amount']}, its move {kind} moved {found[ids[-1]][2]}",
            ))  # fmt: skip
    for kind, ids in moves.items():
        if len(ids) > 1:  # a landed id is never tried again: someone else took one of them
            out.append(Disagreement(
                "custody_receipt_moved_twice", rid, ids[-1],
                f"receipt's money was moved {kind} {len(ids)} times: {', '.join(ids)}",
            ))  # fmt: skip
    refund = receipt.get("refund_status") or MISSING
    if status == "refunded" and refund != "succeeded":
        out.append(Disagreement(
            "custody_receipt_refunded_order_not_succeeded", rid,
            hold_transfer_id(receipt["refund_id"] or "-"),
            f"receipt is refunded, its refund {receipt['refund_id']} is {refund}",
        ))  # fmt: skip
    return out


RECEIPT_MISSING: Mapping[str, str] = {
    "in": "custody_receipt_in_custody_without_transfer",
    "back": "custody_receipt_moved_back_without_transfer",
    "ret": "custody_receipt_returned_without_transfer",
}
RECEIPT_UNEXPECTED: Mapping[str, str] = {
    "in": "custody_receipt_landing_but_moved",
    "back": "custody_receipt_moved_back_before_its_step",
    "ret": "custody_receipt_returned_while_not_failed",
}


def deal_legs(deal: Mapping[str, Any]) -> dict[str, int]:
    """The transfers a closed deal's close posted (`tr_cus_{deal}_c{attempt}_{leg}`) and
    their amounts; a leg of zero is never posted."""
    commission = deal["commission"] or 0
    legs = {"com": commission}
    if deal["rest_to"] in (None, "seller"):
        legs["rest"] = deal["deposit_amount"] - commission
    return {leg: amount for leg, amount in legs.items() if amount}


def deal_transfer_id(deal: Mapping[str, Any], leg: str) -> str:
    return f"tr_cus_{deal['id']}_c{deal['close_attempt']}_{leg}"


def deal_disagreement(deal: Mapping[str, Any], found: Mapping[str, Seen]) -> Disagreement | None:
    if deal["status"] != "closed":
        return None
    for leg, amount in deal_legs(deal).items():
        transfer_id = deal_transfer_id(deal, leg)
        seen = found.get(transfer_id)
        if seen is None:
            return Disagreement(
                "custody_deal_closed_without_transfer", deal["id"], transfer_id,
                f"deal is closed, its {leg} transfer is missing",
            )  # fmt: skip
        if seen[2] != amount:
            return Disagreement(
                "custody_deal_amount_differs", deal["id"], transfer_id,
                f"deal's {leg} is {amount}, its transfer moved {seen[2]}",
            )  # fmt: skip
    return None
