"""Which ledger transfers each split operation posts, and the legs it leaves. Pure.

Every operation on a split gets a sequence number, and its transfer ids are derived from
the split id and that number (`tr_{split}_{seq}_{leg}...`), so posting an operation again
after a crash moves the money once: the ledger answers `exists`. Each operation's legs
are linked: all of them land or none does.

Chart of accounts (ledger `code`):
  4002 split commission   the platform's commission on splits, per currency
Reasons (transfer `code`): 30 split, 31 confirm, 32 cancel/void, 33 claw-back, 34 undo.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from paycore.ledger.model import TransferFlags, TransferRequest
from paycore.payments import bookkeeping as merchant_books
from paycore.split.model import COMMISSION, Leg, LegState, Split, SplitMode, copy_legs
from paycore.wallets.model import receivable_account, wallet_account

CODE_COMMISSION = 4002
REASON_SPLIT = 30
REASON_CONFIRM = 31
REASON_VOID = 32
REASON_CLAWBACK = 33
REASON_UNDO = 34


def commission_account(currency: str) -> str:
    return f"acct_splitcom_{currency}"


@dataclass(frozen=True, slots=True)
class Plan:
    """An operation: the transfers to post and the legs the split has once they landed."""

    transfers: list[TransferRequest]
    legs: list[Leg]
    detail: Mapping[str, Any] = field(default_factory=dict)  # kept with the operation


@dataclass(frozen=True, slots=True)
class Claw:
    """What a refund takes back from one leg, and where it came from."""

    key: str
    share: int
    from_frozen: int = 0
    from_wallet: int = 0
    as_debt: int = 0


def _receiver_account(split: Split, leg: Leg) -> str:
    if leg.owner is None:
        return commission_account(split.currency)
    return wallet_account(split.merchant_id, leg.owner, split.currency)


def _merchant(split: Split) -> str:
    return merchant_books.wallet_account(split.merchant_id, split.currency)


def _linked(transfers: list[TransferRequest]) -> list[TransferRequest]:
    flagged = [replace(t, flags=t.flags | TransferFlags.LINKED.value) for t in transfers[:-1]]
    return flagged + transfers[-1:]


def _meta(split: Split, op: str) -> dict[str, str]:
    return {"split_id": split.id, "payin_id": split.payin_id, "op": op}


def remaining_s(split: Split, now: datetime) -> int:
    """Seconds a frozen leg still has before it expires (0: it is due)."""
    if split.expires_at is None:
        return 0
    return max(0, math.ceil((split.expires_at - now).total_seconds()))


def _freeze(
    split: Split, leg: Leg, *, transfer_id: str, amount: int, timeout_s: int
) -> TransferRequest:
    return TransferRequest(
        id=transfer_id,
        debit_account_id=_merchant(split),
        credit_account_id=_receiver_account(split, leg),
        amount=amount,
        currency=split.currency,
        flags=TransferFlags.PENDING.value,
        timeout_s=timeout_s,
        code=REASON_SPLIT,
        metadata=_meta(split, "freeze"),
    )


def _void(split: Split, leg: Leg, transfer_id: str) -> TransferRequest:
    return TransferRequest(
        id=transfer_id,
        pending_id=leg.transfer_id,
        flags=TransferFlags.VOID_PENDING.value,
        code=REASON_VOID,
        metadata=_meta(split, "void"),
    )


def _move(
    split: Split, transfer_id: str, *, dr: str, cr: str, amount: int, reason: int
) -> TransferRequest:
    return TransferRequest(
        id=transfer_id,
        debit_account_id=dr,
        credit_account_id=cr,
        amount=amount,
        currency=split.currency,
        code=reason,
        metadata=_meta(split, str(reason)),
    )


def apply_plan(split: Split) -> Plan:
    """The split itself: each leg from the merchant's wallet, posted or frozen."""
    legs = copy_legs(split.legs)
    transfers = []
    for leg in legs:
        if split.mode is SplitMode.DELAYED:
            transfers.append(
                _freeze(
                    split,
                    leg,
                    transfer_id=leg.transfer_id,
                    amount=leg.amount,
                    timeout_s=split.freeze_s,
                )
            )
            leg.state, leg.frozen = LegState.PENDING, leg.amount
        else:
            transfers.append(
                _move(
                    split,
                    leg.transfer_id,
                    dr=_merchant(split),
                    cr=_receiver_account(split, leg),
                    amount=leg.amount,
                    reason=REASON_SPLIT,
                )
            )
            leg.state, leg.received = LegState.POSTED, leg.amount
    return Plan(_linked(transfers), legs)


def confirm_plan(split: Split, amounts: Mapping[str, int], prefix: str) -> Plan:
    """Post frozen legs, in full or less: a smaller post releases the rest to the merchant."""
    legs = copy_legs(split.legs)
    transfers = []
    for leg in legs:
        amount = amounts.get(leg.key)
        if amount is None:
            continue
        transfers.append(
            TransferRequest(
                id=f"{prefix}_{leg.key}",
                pending_id=leg.transfer_id,
                amount=amount,
                flags=TransferFlags.POST_PENDING.value,
                code=REASON_CONFIRM,
                metadata=_meta(split, "confirm"),
            )
        )
        # `+=`: an undone claw-back may have frozen again part of a leg already confirmed.
        leg.state, leg.frozen = LegState.POSTED, 0
        leg.received += amount
    return Plan(_linked(transfers), legs)


def cancel_plan(split: Split, prefix: str) -> Plan:
    legs = copy_legs(split.legs)
    transfers = []
    for leg in legs:
        if leg.state is LegState.PENDING:
            transfers.append(_void(split, leg, f"{prefix}_{leg.key}"))
            leg.state, leg.frozen = LegState.VOIDED, 0
    return Plan(_linked(transfers), legs)


def clawback_plan(split: Split, claws: list[Claw], prefix: str, now: datetime) -> Plan:
    """Take each leg's share back to the merchant's wallet: a frozen leg is voided (and
    frozen again for what it keeps, for the time it has left; with none left what it
    keeps is the merchant's, as the expiry gives it); a paid leg gives back from its
    wallet, and the rest as a debt booked on its receivable; a leg both does both."""
    legs = copy_legs(split.legs)
    by_key = {leg.key: leg for leg in legs}
    transfers: list[TransferRequest] = []
    left_s = remaining_s(split, now)
    for claw in claws:
        leg = by_key[claw.key]
        if claw.from_frozen:
            transfers.append(_void(split, leg, f"{prefix}_{leg.key}_v"))
            leg.frozen -= claw.from_frozen
            if leg.frozen and left_s:
                leg.transfer_id = f"{prefix}_{leg.key}_f"
                transfers.append(
                    _freeze(
                        split, leg, transfer_id=leg.transfer_id, amount=leg.frozen, timeout_s=left_s
                    )
                )
            elif leg.frozen:  # a hold with timeout 0 would never expire
                leg.state, leg.frozen = LegState.EXPIRED, 0
            else:
                leg.state = LegState.VOIDED
        source = _receiver_account(split, leg)
        if claw.from_wallet:
            transfers.append(
                _move(
                    split,
                    f"{prefix}_{leg.key}_w",
                    dr=source,
                    cr=_merchant(split),
                    amount=claw.from_wallet,
                    reason=REASON_CLAWBACK,
                )
            )
        if claw.as_debt and leg.owner is not None:
            debt_account = receivable_account(split.merchant_id, leg.owner, split.currency)
            transfers.append(
                _move(
                    split,
                    f"{prefix}_{leg.key}_d",
                    dr=debt_account,
                    cr=_merchant(split),
                    amount=claw.as_debt,
                    reason=REASON_CLAWBACK,
                )
            )
        leg.clawed += claw.share - claw.from_frozen  # `clawed` counts what it received only
    return Plan(_linked(transfers), legs)


def undo_plan(split: Split, claws: list[Claw], prefix: str, now: datetime) -> Plan:
    """A claw-back whose refund was refused or failed, given back by new transfers: paid
    legs get their share again (a debt it created is then repaid from it), frozen legs
    are frozen again for the rest of their time; past it, the merchant keeps the money,
    as the expiry would have given it."""
    legs = copy_legs(split.legs)
    by_key = {leg.key: leg for leg in legs}
    transfers: list[TransferRequest] = []
    left_s = remaining_s(split, now)
    for claw in claws:
        leg = by_key[claw.key]
        if claw.from_frozen and left_s:
            if leg.state is LegState.PENDING:
                transfers.append(_void(split, leg, f"{prefix}_{leg.key}_v"))
            leg.frozen += claw.from_frozen
            leg.state, leg.transfer_id = LegState.PENDING, f"{prefix}_{leg.key}_f"
            transfers.append(
                _freeze(
                    split, leg, transfer_id=leg.transfer_id, amount=leg.frozen, timeout_s=left_s
                )
            )
        received = claw.share - claw.from_frozen  # what the wallet (or a debt) gave
        if not received:
            continue
        transfers.append(
            _move(
                split,
                f"{prefix}_{leg.key}_w",
                dr=_merchant(split),
                cr=_receiver_account(split, leg),
                amount=received,
                reason=REASON_UNDO,
            )
        )
        leg.clawed -= received
    return Plan(_linked(transfers), legs)


def is_commission(leg: Leg) -> bool:
    return leg.key == COMMISSION
