"""Refund after split (分账回退): claw the split back, then refund the payer.

Order of the steps, chosen so a crash anywhere resumes without moving money twice:
record the refund (status `clawing`) → claw back (one linked batch, an operation of the
split) → ask payments for the refund (idempotency key derived from this refund) → final.
The claw-back comes first because the refund's hold needs the money in the merchant's
wallet. If payments refuses the refund, or the channel fails it, the claw-back is given
back by new transfers (`undoing` → `failed`); the journal is never edited.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from paycore import limits
from paycore.errors import Rejected
from paycore.payments import bookkeeping as merchant_books
from paycore.payments.model import Order, OrderKind, OrderStatus, check_refund, never_reached_bank
from paycore.payments.service import Payments, RefundCommand
from paycore.platform.db import WRITER
from paycore.split import store
from paycore.split.bookkeeping import Claw, Plan, clawback_plan, undo_plan
from paycore.split.model import LegState, Split, clawback_shares, cover, refund_id_for
from paycore.split.operations import SplitBook

RETRY_AFTER = timedelta(seconds=limits.PLATFORM_PAYMENT_RETRY_AFTER_S)
TRIES_MAX = limits.PLATFORM_PAYMENT_TRIES_MAX
CLAW_TRIES_MAX = 3
"""A receiver's wallet can change between reading it and posting; then plan again."""
UNFINISHED_SWEEP_MAX = 100


class SplitRefunds:
    def __init__(self, book: SplitBook, payments: Payments) -> None:
        self._book = book
        self._payments = payments
        book.on_done["refund.claw"] = self._clawed
        book.on_done["refund.undo"] = self._undone

    def refund(
        self,
        split: Split,
        *,
        amount: int,
        parts: Mapping[str, int] | None,
        idempotency_key: str,
        reason: str = "",
    ) -> dict[str, Any]:
        refund_id = refund_id_for(split.id, idempotency_key)
        request = {"amount": amount, "parts": dict(parts) if parts else None, "reason": reason}
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        found = self.get(refund_id)
        if found is not None:
            if found["request"].get("digest") != digest:
                raise Rejected("idempotency_key_reused", "this key was used for another refund")
            return self.resume(refund_id)
        payin = self._payments.get(merchant_id=split.merchant_id, order_id=split.payin_id)
        check_refund(payin, amount)
        shares = clawback_shares(split, amount=amount, refundable=payin.refundable, parts=parts)
        self._check_merchant_covers(split, amount - sum(shares.values()))
        now = self._book.clock.now()
        values = {
            "id": refund_id,
            "split_id": split.id,
            "merchant_id": split.merchant_id,
            "amount": amount,
            "request": {**request, "digest": digest},
            "claws": [],
            "status": "clawing",
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self._book.engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.insert_refund(conn, values)
        except IntegrityError:
            pass  # the same request, at the same time: one resume wins, the other waits
        return self.resume(refund_id)

    def get(self, refund_id: str) -> dict[str, Any] | None:
        with self._book.engine.connect() as conn:
            return store.get_refund(conn, refund_id)

    def resume(self, refund_id: str) -> dict[str, Any]:
        """Bring a refund as far as it can go now; safe to call any time, any number of times."""
        refund = self._must(refund_id)
        with self._book.lock(refund["split_id"]):
            split = self._book.finish_pending(self._book.load(refund["split_id"]))
            refund = self._must(refund_id)
            if refund["status"] == "clawing":
                self._claw(split, refund)
                refund = self._must(refund_id)
            if refund["status"] == "refunding":
                self._ask_payments(refund)
                refund = self._must(refund_id)
            if refund["status"] == "undoing":
                self._undo(refund)
                refund = self._must(refund_id)
        return refund

    def resume_unfinished(self) -> int:
        with self._book.engine.connect() as conn:
            unfinished = store.unfinished_refunds(conn, limit=UNFINISHED_SWEEP_MAX)
        for refund in unfinished:
            self.resume(refund["id"])
        return len(unfinished)

    # -- the steps ------------------------------------------------------------------------

    def _claw(self, split: Split, refund: dict[str, Any]) -> None:
        request = refund["request"]
        failure: str | None = None
        for _ in range(CLAW_TRIES_MAX):

            def plan(current: Split, prefix: str) -> Plan:
                if self._must(refund["id"])["status"] != "clawing":
                    return Plan([], current.legs)  # clawed meanwhile
                payin = self._payments.get(merchant_id=None, order_id=current.payin_id)
                shares = clawback_shares(
                    current,
                    amount=refund["amount"],
                    # The refund is not made yet: what it may take is still refundable.
                    refundable=payin.refundable,
                    parts=request["parts"],
                )
                claws = [self._claw_of(current, key, share) for key, share in shares.items()]
                made = clawback_plan(current, claws, prefix, self._book.clock.now())
                return Plan(made.transfers, made.legs, {"claws": [asdict(c) for c in claws]})

            try:
                _split, failure = self._book.run(
                    split.id,
                    "refund.claw",
                    plan,
                    refund_id=refund["id"],
                    refunded_delta=refund["amount"],
                )
            except Rejected as refused:
                failure = refused.code
                break
            if failure is None:
                if self._must(refund["id"])["status"] == "clawing":
                    self._set(refund["id"], status="refunding")  # nothing to claw back
                return
        self._set(refund["id"], status="failed", failure_code=f"clawback_{failure}")

    def _claw_of(self, split: Split, key: str, share: int) -> Claw:
        leg = split.leg(key)
        # A leg can hold money frozen and money received at once (an undone claw-back froze
        # again part of a leg confirmed meanwhile): the hold gives what it holds, at most,
        # and what it received gives the rest.
        from_frozen = min(share, leg.frozen) if leg.state is LegState.PENDING else 0
        rest = share - from_frozen
        if not rest:
            return Claw(key, share, from_frozen=from_frozen)
        if leg.owner is None:
            return Claw(key, share, from_frozen=from_frozen, from_wallet=rest)
        wallet = self._book.wallets.get(split.merchant_id, leg.owner, split.currency)
        from_wallet, debt = cover(
            rest, available=wallet.available, allow_negative=wallet.allow_negative
        )
        return Claw(key, share, from_frozen=from_frozen, from_wallet=from_wallet, as_debt=debt)

    def _ask_payments(self, refund: dict[str, Any]) -> None:
        order_id = refund["refund_order_id"] or self._create_order(refund)
        if order_id is None:
            return
        order = self._payments.get(merchant_id=None, order_id=str(order_id), kind=OrderKind.REFUND)
        if order.status is OrderStatus.CREATED:  # a crash left it unsent: send it now
            try:
                order = self._payments.send_recorded(order.id, idempotency_key=_key(refund))
            except Rejected as refused:
                if refused.code == "request_in_progress":
                    return  # the first request may still be running: the tick comes back
                order = self._payments.get(merchant_id=None, order_id=order.id)
        if order.status is OrderStatus.SUCCEEDED:
            self._settle(refund, order, status="refunded")
        elif order.status in (OrderStatus.FAILED, OrderStatus.CLOSED):
            if never_reached_bank(order) and refund["refund_attempt"] + 1 < TRIES_MAX:
                self._try_again(refund, order)
                return
            code = order.failure.code if order.failure else "refund_failed"
            self._settle(refund, order, status="undoing", failure_code=code)

    def _refused(self, refund: dict[str, Any], code: str) -> None:
        """Payments refused this attempt's order: give the claw-back back."""
        with self._book.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.settle_refund(
                conn,
                refund["id"],
                order_id=None,
                attempt=refund["refund_attempt"],
                now=self._book.clock.now(),
                status="undoing",
                failure_code=code,
            )

    def _settle(self, refund: dict[str, Any], order: Order, **values: Any) -> None:
        with self._book.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.settle_refund(
                conn, refund["id"], order_id=order.id, now=self._book.clock.now(), **values
            )

    def _create_order(self, refund: dict[str, Any]) -> str | None:
        """The refund order's id, or None when there is none to follow (yet)."""
        split = self._book.load(refund["split_id"])
        command = RefundCommand(
            merchant_id=split.merchant_id,
            payin_id=split.payin_id,
            amount=refund["amount"],
            reason=refund["request"].get("reason") or "",
            merchant_reference=None,
        )
        try:
            created = self._payments.create_refund(command, idempotency_key=_key(refund))
        except Rejected as refused:
            if refused.code == "request_in_progress":
                # Another process (or one that died mid-call) holds the key: the refund
                # may still be paid. Undoing now could move the money twice; wait.
                return None
            self._refused(refund, refused.code)
            return None
        order_id = created.body.get("id") or created.body.get("order_id")
        if created.status_code >= 400 and not order_id:
            self._refused(refund, str(created.body.get("code", "refund_refused")))
            return None
        with self._book.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            claimed = store.claim_refund_order(
                conn,
                refund["id"],
                order_id=str(order_id),
                attempt=refund["refund_attempt"],
                now=self._book.clock.now(),
            )
        if not claimed:  # another worker got there first: follow what it recorded
            current = self._must(refund["id"])["refund_order_id"]
            return str(current) if current else None
        return str(order_id)

    def _try_again(self, refund: dict[str, Any], failed: Order) -> None:
        """The refund order never reached the bank (never received, no channel up): it
        released its hold and its share of the pay-in, so a new order under the next key
        cannot pay twice. After the last try the claw-back is given back (`failed`)."""
        now = self._book.clock.now()
        if now - (failed.finished_at or failed.updated_at) < RETRY_AFTER:
            return  # a channel that is down is given time; the tick comes back
        with self._book.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            retried = store.retry_refund(
                conn,
                refund["id"],
                failed_order_id=failed.id,
                attempt=refund["refund_attempt"],
                now=now,
            )
        if retried:
            self._ask_payments(self._must(refund["id"]))

    def _undo(self, refund: dict[str, Any]) -> None:
        claws = [Claw(**c) for c in refund["claws"]]

        def plan(current: Split, prefix: str) -> Plan:
            if self._must(refund["id"])["status"] != "undoing":
                return Plan([], current.legs)
            return undo_plan(current, claws, prefix, self._book.clock.now())

        _split, failure = self._book.run(
            refund["split_id"],
            "refund.undo",
            plan,
            refund_id=refund["id"],
            refunded_delta=-refund["amount"],
        )
        if failure is None and self._must(refund["id"])["status"] == "undoing":
            self._set(refund["id"], status="failed")  # it had nothing to give back
        # A refused undo (the merchant spent the money meanwhile) stays `undoing`: the tick
        # tries again with new transfer ids.

    # -- records --------------------------------------------------------------------------

    def _clawed(self, conn: Connection, op: dict[str, Any]) -> None:
        values = {"status": "refunding", "claws": op["claws"]}
        store.update_refund(conn, op["refund_id"], updated_at=self._book.clock.now(), **values)

    def _undone(self, conn: Connection, op: dict[str, Any]) -> None:
        store.update_refund(
            conn, op["refund_id"], status="failed", updated_at=self._book.clock.now()
        )

    def _set(self, refund_id: str, **values: Any) -> None:
        with self._book.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.update_refund(conn, refund_id, updated_at=self._book.clock.now(), **values)

    def _must(self, refund_id: str) -> dict[str, Any]:
        found = self.get(refund_id)
        if found is None:
            raise Rejected("split_refund_not_found", f"no split refund {refund_id}")
        return found

    def _check_merchant_covers(self, split: Split, own_part: int) -> None:
        account = self._book.ledger.get_account(
            merchant_books.wallet_account(split.merchant_id, split.currency)
        )
        available = account.available if account is not None else 0
        if own_part > available:
            raise Rejected(
                "insufficient_balance",
                f"the merchant's own part {own_part} is more than its available {available}",
            )


def _key(refund: Mapping[str, Any]) -> str:
    """The idempotency key of the split refund's payments refund: one per attempt."""
    base = f"split-refund:{refund['id']}"
    return base if not refund["refund_attempt"] else f"{base}:retry{refund['refund_attempt']}"
