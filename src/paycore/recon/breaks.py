"""The workflow of a break: open → investigating → resolved, each step in the audit trail.

Resolving needs a note and may post one ledger adjustment between two of the accounts
the break is about (`adjustment_accounts`): anything else is refused with
`adjustment_account_not_allowed`, since the adjustment moves flows' money with the
ledger's own authority and a platform key must not steer it into any account. Its
transfer id is derived from the break and an attempt number: a retry after a crash
finds the transfer (`exists`) and moves nothing twice, while a retry after a refusal
that depended on the ledger's state (a frozen account, say) uses the next attempt's id,
since the ledger remembers a failed id for good.

Money a statement shows with no order of ours is booked to a suspense account at once
(channel clearing ↔ `acct_suspense_{currency}`, code 2901), so the channel's clearing
balance agrees with the statement while someone finds whose money it is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from paycore import limits
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.ledger.model import TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.payments import bookkeeping as books
from paycore.payments import store as payment_store
from paycore.platform.db import WRITER
from paycore.recon import store

CODE_SUSPENSE = 2901
REASON_SUSPENSE = 29
REASON_ADJUSTMENT = 30
NOTE_CHARS_MAX = 1000
SUSPENSE_CHUNK = 1_000
BOOKED = frozenset({"created", "exists"})


class BreakType(enum.StrEnum):
    MISSING_ON_OUR_SIDE = "missing_on_our_side"  # channel surplus, 长款
    MISSING_ON_CHANNEL_SIDE = "missing_on_channel_side"  # channel shortfall, 短款
    AMOUNT_MISMATCH = "amount_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    FEE_MISMATCH = "fee_mismatch"
    DUPLICATE = "duplicate"
    # Found on import from a statement's balances (store_statements.py), not by a run.
    STATEMENT_UNBALANCED = "statement_unbalanced"
    BALANCE_DISCONTINUITY = "balance_discontinuity"


class BreakStatus(enum.StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"


_NEXT = {
    BreakStatus.OPEN: {BreakStatus.INVESTIGATING, BreakStatus.RESOLVED},
    BreakStatus.INVESTIGATING: {BreakStatus.RESOLVED},
    BreakStatus.RESOLVED: set(),
}


@dataclass(frozen=True, slots=True)
class Adjustment:
    debit_account_id: str
    credit_account_id: str
    amount: int


def suspense_account(currency: str) -> str:
    return f"acct_suspense_{currency}"


def check_note(note: str, *, required: bool) -> str:
    note = note.strip()
    if required and not note:
        raise Rejected("note_required", "say how the break was resolved")
    if len(note) > NOTE_CHARS_MAX:
        raise Rejected("note_too_long", f"at most {NOTE_CHARS_MAX} characters")
    return note


class Breaks:
    def __init__(self, engine: Engine, ledger: Ledger, clock: Clock) -> None:
        self.engine = engine
        self.ledger = ledger
        self.clock = clock

    def get(self, break_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = store.get_break(conn, break_id)
            if found is None:
                raise Rejected("break_not_found", f"no break {break_id}")
            found["events"] = store.events_of(conn, break_id)
        return found

    def investigate(self, break_id: int, *, actor: str, note: str = "") -> dict[str, Any]:
        note = check_note(note, required=False)
        self._move(break_id, BreakStatus.INVESTIGATING, actor=actor, note=note)
        return self.get(break_id)

    def resolve(
        self, break_id: int, *, actor: str, note: str, adjustment: Adjustment | None = None
    ) -> dict[str, Any]:
        note = check_note(note, required=True)
        current = self.get(break_id)
        _check_move(current, BreakStatus.RESOLVED)
        transfer_id = None
        if adjustment is not None:
            transfer_id = self._adjust(current, adjustment)
        self._move(break_id, BreakStatus.RESOLVED, actor=actor, note=note, transfer_id=transfer_id)
        return self.get(break_id)

    def auto_resolve(self, agreed: list[tuple[int, str]]) -> int:
        """Close status mismatches whose order has since reached the line's status."""
        for break_id, order_status in agreed:
            note = f"the order is now {order_status}, as the statement says"
            try:
                self._move(break_id, BreakStatus.RESOLVED, actor="recon", note=note)
            except Rejected:  # someone resolved it by hand meanwhile
                continue
        return len(agreed)

    def close_claimed(self, break_id: int, *, note: str) -> None:
        """Resolve a surplus break whose money a slice claimed out of suspense."""
        self._move(break_id, BreakStatus.RESOLVED, actor="recon", note=note[:NOTE_CHARS_MAX])

    def book_suspense(self, source: str) -> int:
        """Post every unbooked surplus line of `source` to suspense; returns how many."""
        booked_total = 0
        while True:
            with self.engine.connect() as conn:
                pending = store.unbooked_suspense(conn, source=source, limit=SUSPENSE_CHUNK)
            if not pending:
                return booked_total
            self._open_suspense_accounts(source, {b["currency"] for b in pending})
            requests = [_suspense_transfer(source, b) for b in pending]
            results = self.ledger.create_transfers(requests)
            booked = [
                (b["id"], r.id) for b, r in zip(pending, results, strict=True) if r.result in BOOKED
            ]
            with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.record_suspense(conn, booked, self.clock.now())
            booked_total += len(booked)
            if len(booked) < len(pending):  # the rest waits for someone to look at the ledger
                return booked_total

    def _open_suspense_accounts(self, source: str, currencies: set[str]) -> None:
        wanted = []
        for currency in sorted(currencies):
            wanted.append(
                AccountRequest(id=suspense_account(currency), currency=currency, code=CODE_SUSPENSE)
            )
            wanted.append(
                AccountRequest(
                    id=books.clearing_account(source, currency),
                    currency=currency,
                    code=books.CODE_CLEARING,
                )
            )
        self.ledger.create_accounts(wanted[: limits.ACCOUNT_BATCH_MAX])

    def adjustment_accounts(self, current: dict[str, Any]) -> list[str]:
        """The accounts an adjustment of this break may move money between: the suspense
        and the channel's clearing that hold a statement's unexplained money, the fee
        account (a fee the channel kept), and the wallet of the merchant whose order the
        break names (a payer who paid another amount). Money in transit belongs to a hold,
        and other merchants and channels have nothing to do with this break."""
        currency, source = current["currency"], current["source"]
        allowed = [
            suspense_account(currency),
            books.clearing_account(source, currency),
            books.fee_account(currency),
        ]
        if current.get("order_id"):
            with self.engine.connect() as conn:
                order = payment_store.get_order(conn, current["order_id"])
            if order is not None:
                allowed.append(books.wallet_account(order.merchant_id, currency))
        return allowed

    def _adjust(self, current: dict[str, Any], adjustment: Adjustment) -> str:
        if adjustment.amount <= 0:
            raise Rejected("invalid_amount", "an adjustment amount is a positive integer")
        allowed = self.adjustment_accounts(current)
        for account_id in (adjustment.debit_account_id, adjustment.credit_account_id):
            if account_id not in allowed:
                raise Rejected(
                    "adjustment_account_not_allowed",
                    f"{account_id} is not an account of break {current['id']}; an adjustment "
                    f"moves money only between {', '.join(allowed)}",
                )
        attempt = int(current["adjustment_attempts"])
        transfer_id = f"tr_adj_brk{current['id']}_{attempt}"
        [result] = self.ledger.create_transfers(
            [
                TransferRequest(
                    id=transfer_id,
                    debit_account_id=adjustment.debit_account_id,
                    credit_account_id=adjustment.credit_account_id,
                    amount=adjustment.amount,
                    currency=current["currency"],
                    code=REASON_ADJUSTMENT,
                    metadata={"break_id": str(current["id"])},
                )
            ]
        )
        if result.result in BOOKED:
            return transfer_id
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.change_break(
                conn,
                break_id=current["id"],
                from_status=current["status"],
                values={"adjustment_attempts": attempt + 1, "updated_at": self.clock.now()},
            )
        code = "account_not_found" if result.result.endswith("account_not_found") else None
        raise Rejected(code or "adjustment_refused", f"the ledger answered {result.result}")

    def _move(
        self,
        break_id: int,
        to: BreakStatus,
        *,
        actor: str,
        note: str,
        transfer_id: str | None = None,
    ) -> None:
        now = self.clock.now()
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            current = store.get_break(conn, break_id)
            if current is None:
                raise Rejected("break_not_found", f"no break {break_id}")
            _check_move(current, to)
            values: dict[str, Any] = {"status": to.value, "updated_at": now}
            if note:
                values["note"] = note
            if transfer_id is not None:
                values["adjustment_transfer_id"] = transfer_id
            if not store.change_break(
                conn, break_id=break_id, from_status=current["status"], values=values
            ):
                raise Rejected("break_changed", "the break changed meanwhile; read it again")
            store.add_event(
                conn,
                {
                    "break_id": break_id,
                    "actor": actor[:64],
                    "from_status": current["status"],
                    "to_status": to.value,
                    "note": note,
                    "transfer_id": transfer_id,
                    "at": now,
                },
            )


def _check_move(current: dict[str, Any], to: BreakStatus) -> None:
    status = BreakStatus(current["status"])
    if to not in _NEXT[status]:
        if status is BreakStatus.RESOLVED:
            raise Rejected("break_already_resolved", f"break {current['id']} is resolved")
        raise Rejected("invalid_break_transition", f"a break {status} cannot become {to}")


def _suspense_transfer(source: str, found: dict[str, Any]) -> TransferRequest:
    clearing = books.clearing_account(source, found["currency"])
    suspense = suspense_account(found["currency"])
    money_in = found["direction"] == "credit"
    # Money in that no order explains: the channel owes us more (debit clearing) and we
    # owe it to someone not yet known (credit suspense). Money out: the other way round.
    return TransferRequest(
        id=f"tr_susp_brk{found['id']}",
        debit_account_id=clearing if money_in else suspense,
        credit_account_id=suspense if money_in else clearing,
        amount=found["line_amount"],
        currency=found["currency"],
        code=REASON_SUSPENSE,
        metadata={"break_id": str(found["id"]), "source": source},
    )
