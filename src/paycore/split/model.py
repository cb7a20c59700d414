"""Split settlement (分账) rules, parts and claw-backs. Pure: no SQL, no HTTP.

A split divides what a pay-in left in the merchant's wallet (its *base*: amount - fee)
between the rule's receivers, the platform's commission and the merchant itself.
Fixed amounts come first, basis points share the rest, and the largest-remainder method
hands out the last minor units, so the parts always sum to the base exactly.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from paycore import limits
from paycore.errors import Rejected
from paycore.wallets.model import check_owner

BPS_WHOLE = 10_000
RECEIVERS_MAX = 20
FREEZE_S_MIN = 60
FREEZE_S_MAX = 90 * 24 * 3600
"""A delayed split waits at most a quarter for its confirmation."""
COMMISSION = "com"
"""The key of the platform commission's leg; receivers' legs are r0, r1, ..."""


class SplitMode(enum.StrEnum):
    IMMEDIATE = "immediate"
    DELAYED = "delayed"


class LegState(enum.StrEnum):
    PLANNED = "planned"  # recorded, not yet in the ledger
    PENDING = "pending"  # frozen in the merchant's wallet (delayed split)
    POSTED = "posted"  # the receiver has it
    VOIDED = "voided"  # cancelled, or clawed back entirely while frozen
    EXPIRED = "expired"  # not confirmed in time: back to the merchant


class SplitStatus(enum.StrEnum):
    RECORDED = "recorded"  # legs planned, the ledger not yet asked
    FROZEN = "frozen"  # delayed: waiting for confirmation
    PARTIALLY_CONFIRMED = "partially_confirmed"
    SETTLED = "settled"  # nothing frozen any more, something paid out
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FAILED = "failed"  # no money moved (fixed parts above the base, wallet short, ...)


@dataclass(frozen=True, slots=True)
class Share:
    """A receiver in a rule: a fixed amount or basis points of what is left after fixed."""

    owner: str
    bps: int = 0
    amount: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    merchant_id: str
    product: str
    currency: str
    mode: SplitMode
    freeze_s: int
    receivers: tuple[Share, ...]
    commission_bps: int = 0
    commission_amount: int = 0
    created_at: datetime | None = None


def check_rule(rule: Rule) -> None:
    """Refuse a rule that could not always split a pay-in; everything else is accepted."""
    if not 1 <= len(rule.receivers) <= RECEIVERS_MAX:
        raise Rejected("invalid_receivers", f"a rule has 1 to {RECEIVERS_MAX} receivers")
    owners = [r.owner for r in rule.receivers]
    if len(set(owners)) != len(owners):
        raise Rejected("duplicate_receiver", "each receiver appears once")
    for share in rule.receivers:
        check_owner(share.owner)
        _check_one_of(share.bps, share.amount, what=f"receiver {share.owner}", required=True)
    _check_one_of(rule.commission_bps, rule.commission_amount, what="commission", required=False)
    if sum(r.bps for r in rule.receivers) + rule.commission_bps > BPS_WHOLE:
        raise Rejected("bps_over_whole", "receivers' and commission bps sum to at most 10000")
    if rule.mode is SplitMode.IMMEDIATE and rule.freeze_s:
        raise Rejected("invalid_freeze_s", "an immediate split freezes nothing (freeze_s 0)")
    if rule.mode is SplitMode.DELAYED and not FREEZE_S_MIN <= rule.freeze_s <= FREEZE_S_MAX:
        raise Rejected("invalid_freeze_s", f"freeze_s is {FREEZE_S_MIN} to {FREEZE_S_MAX}")


def _check_one_of(bps: int, amount: int, *, what: str, required: bool) -> None:
    if bps < 0 or amount < 0 or (bps and amount) or (required and not (bps or amount)):
        raise Rejected("invalid_share", f"{what}: exactly one of bps or amount, above zero")
    if bps > BPS_WHOLE:
        raise Rejected("invalid_share", f"{what}: bps is at most {BPS_WHOLE}")
    if amount > limits.PAYMENT_AMOUNT_MAX:
        raise Rejected("invalid_share", f"{what}: amount is at most {limits.PAYMENT_AMOUNT_MAX}")


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights` by largest remainder: each part is the
    floor or the ceiling of its exact quota, the parts sum to `total`, and ties go to the
    earlier weight, so the answer is deterministic."""
    whole = sum(weights)
    if total < 0 or whole <= 0 or any(w < 0 for w in weights):
        raise ValueError("allocate needs a total >= 0 and non-negative weights summing above 0")
    parts = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    short = total - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:short]:
        parts[i] += 1
    return parts


@dataclass(frozen=True, slots=True)
class Parts:
    receivers: tuple[int, ...]  # in the rule's order
    commission: int
    merchant: int  # what stays with the merchant


def split_parts(base: int, rule: Rule) -> Parts:
    """The base divided by the rule: fixed amounts first, then bps of the rest."""
    fixed = sum(r.amount for r in rule.receivers) + rule.commission_amount
    if fixed > base:
        raise Rejected("fixed_parts_exceed_base", f"fixed parts {fixed} exceed the base {base}")
    rest = base - fixed
    bps = [r.bps for r in rule.receivers] + [rule.commission_bps]
    by_bps = allocate(rest, [*bps, BPS_WHOLE - sum(bps)])
    receivers = tuple(r.amount + p for r, p in zip(rule.receivers, by_bps, strict=False))
    return Parts(receivers, rule.commission_amount + by_bps[-2], by_bps[-1])


# -- a split and its legs -----------------------------------------------------------------


@dataclass(slots=True)
class Leg:
    """One receiver's (or the commission's) part of one split, as the ledger holds it."""

    key: str  # r0..r19 | com
    owner: str | None  # None: the platform's commission
    amount: int  # what the rule gave it
    state: LegState
    transfer_id: str  # the ledger transfer that carries it now (the hold while frozen)
    frozen: int = 0  # still pending in the merchant's wallet
    received: int = 0  # posted to it
    clawed: int = 0  # taken back from what it received (wallet or debt)

    @property
    def remaining(self) -> int:
        """What a refund can still take from this leg: frozen or received and kept."""
        return self.frozen + self.received - self.clawed


@dataclass(slots=True)
class Split:
    id: str
    merchant_id: str
    payin_id: str
    rule_id: str
    product: str
    currency: str
    mode: SplitMode
    freeze_s: int
    payin_amount: int
    base: int
    legs: list[Leg]
    status: SplitStatus
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    failure_code: str | None = None
    refunded: int = 0  # refunded through this slice
    seq: int = 0  # operations so far: part of every transfer id an operation derives
    pending_op: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    def leg(self, key: str) -> Leg:
        for leg in self.legs:
            if leg.key == key:
                return leg
        raise Rejected("receiver_not_found", f"{key} is not a leg of {self.id}")

    def leg_of(self, owner: str) -> Leg:
        for leg in self.legs:
            if leg.owner == owner:
                return leg
        raise Rejected("receiver_not_found", f"{owner} is not a receiver of {self.id}")


def split_id_for(payin_id: str) -> str:
    """One split per pay-in: the id is derived from it, so the database refuses a second."""
    return "spl_" + hashlib.blake2b(payin_id.encode(), digest_size=10).hexdigest()


def refund_id_for(split_id: str, idempotency_key: str) -> str:
    raw = f"{split_id}|{idempotency_key}".encode()
    return "srf_" + hashlib.blake2b(raw, digest_size=10).hexdigest()


def plan_legs(split_id: str, rule: Rule, parts: Parts) -> list[Leg]:
    keyed: list[tuple[str, str | None, int]] = [
        (f"r{i}", share.owner, amount)
        for i, (share, amount) in enumerate(zip(rule.receivers, parts.receivers, strict=True))
    ]
    keyed.append((COMMISSION, None, parts.commission))
    return [
        Leg(key=k, owner=o, amount=a, state=LegState.PLANNED, transfer_id=f"tr_{split_id}_{k}")
        for k, o, a in keyed
        if a > 0  # a zero part moves nothing, so it needs no leg
    ]


def status_of(legs: Sequence[Leg]) -> SplitStatus:
    """What a split is, read from its legs once the ledger has them."""
    states = {leg.state for leg in legs}
    # A leg's state is that of the transfer it names now: one frozen again, voided or
    # expired after it was paid (an undone claw-back) has still paid its receiver.
    paid = LegState.POSTED in states or any(leg.received for leg in legs)
    if LegState.PENDING in states:
        posted = paid or LegState.EXPIRED in states
        return SplitStatus.PARTIALLY_CONFIRMED if posted else SplitStatus.FROZEN
    if paid:
        return SplitStatus.SETTLED
    if LegState.EXPIRED in states:
        return SplitStatus.EXPIRED
    return SplitStatus.CANCELLED


def copy_legs(legs: Sequence[Leg]) -> list[Leg]:
    return [replace(leg) for leg in legs]


# -- confirm ------------------------------------------------------------------------------


def confirm_amounts(split: Split, parts: Mapping[str, int] | None) -> dict[str, int]:
    """Leg key -> amount to post. Without parts every frozen leg is confirmed in full;
    with parts (owner -> amount) only those, each up to what is frozen for it. The
    commission is confirmed in full with the first confirmation."""
    if split.status not in (SplitStatus.FROZEN, SplitStatus.PARTIALLY_CONFIRMED):
        raise Rejected("split_not_frozen", f"{split.id} is {split.status}")
    frozen = {leg.key: leg for leg in split.legs if leg.state is LegState.PENDING}
    if parts is None:
        return {key: leg.frozen for key, leg in frozen.items()}
    if not parts:
        raise Rejected("parts_empty", "name at least one receiver, or none to confirm all")
    chosen: dict[str, int] = {}
    for owner, amount in parts.items():
        leg = split.leg_of(owner)
        if leg.key not in frozen:
            raise Rejected("receiver_not_frozen", f"{owner}'s part is {leg.state}")
        if not 0 < amount <= leg.frozen:
            raise Rejected("invalid_amount", f"{owner}: 1 to {leg.frozen}")
        chosen[leg.key] = amount
    if COMMISSION in frozen:
        chosen[COMMISSION] = frozen[COMMISSION].frozen
    return chosen


# -- refund claw-back -----------------------------------------------------------------------


def clawback_shares(
    split: Split, *, amount: int, refundable: int, parts: Mapping[str, int] | None
) -> dict[str, int]:
    """Leg key -> what this refund takes back from it.

    By default each leg gives back in proportion to what it still holds of the pay-in
    (frozen, or received and not yet clawed), the merchant's own part and the fee being
    the last weight: largest remainder over what is left, so no leg ever gives back more
    than it holds and a full refund takes everything back. `parts` (owner -> amount) name
    the receivers' shares instead; the commission still gives back its proportional share.
    """
    left = split.payin_amount - split.refunded
    if amount <= 0:
        raise Rejected("amount_must_be_positive", "amount is in minor units and above zero")
    if amount > min(left, refundable):
        raise Rejected("refund_exceeds_refundable", f"at most {min(left, refundable)}")
    holders = [leg for leg in split.legs if leg.remaining > 0]
    weights = [leg.remaining for leg in holders]
    merchant_part = left - sum(weights)
    if merchant_part < 0:  # pragma: no cover - legs never hold more than the pay-in
        raise ValueError(f"{split.id}: legs hold more than is left of the pay-in")
    shares = allocate(amount, [*weights, merchant_part])
    proportional = {leg.key: s for leg, s in zip(holders, shares, strict=False) if s}
    if parts is None:
        return proportional
    chosen = {k: v for k, v in proportional.items() if k == COMMISSION}
    for owner, share in parts.items():
        leg = split.leg_of(owner)
        if not 0 <= share <= leg.remaining:
            raise Rejected("invalid_part", f"{owner} gives back 0 to {leg.remaining}")
        if share:
            chosen[leg.key] = share
    if sum(chosen.values()) > amount:
        raise Rejected("parts_exceed_refund", "the parts sum to more than the refund")
    return chosen


def cover(share: int, *, available: int, allow_negative: bool) -> tuple[int, int]:
    """(from the wallet, as a debt): what the receiver's wallet cannot cover becomes a
    debt, unless the wallet may go below zero."""
    if allow_negative:
        return share, 0
    from_wallet = min(share, max(available, 0))
    return from_wallet, share - from_wallet
