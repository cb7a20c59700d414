"""Split settlement (分账) use cases: rules, the split of each paid pay-in, confirm,
cancel, expiry and refunds after split. Balances live in the ledger only."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from paycore import ids
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.ledger.model import AccountStatus
from paycore.ledger.service import AccountRequest, Ledger
from paycore.money import is_known_currency
from paycore.payments import bookkeeping as merchant_books
from paycore.payments.model import Order, OrderKind, OrderStatus, check_product
from paycore.payments.service import Payments
from paycore.platform.db import WRITER, one_read
from paycore.split import store
from paycore.split.bookkeeping import (
    CODE_COMMISSION,
    Plan,
    apply_plan,
    cancel_plan,
    commission_account,
    confirm_plan,
)
from paycore.split.model import (
    Rule,
    Share,
    Split,
    SplitMode,
    SplitStatus,
    check_rule,
    confirm_amounts,
    plan_legs,
    split_id_for,
    split_parts,
)
from paycore.split.operations import SplitBook
from paycore.split.refunds import SplitRefunds
from paycore.split.rule_keys import RuleKeys
from paycore.wallets.service import Wallets

log = logging.getLogger(__name__)

LOOK_BACK = timedelta(days=2)
"""How far back the sweep looks for paid pay-ins whose split was never made (a crash)."""
SWEEP_OVERLAP = timedelta(minutes=5)
SWEEP_PAGE = 500
SPLITS_PAGE_MAX = 200
RULES_PAGE_MAX = 500


class Splits:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        payments: Payments,
        wallets: Wallets,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._payments = payments
        self._wallets = wallets
        self._book = SplitBook(engine=engine, ledger=ledger, wallets=wallets, clock=clock)
        self._refunds = SplitRefunds(self._book, payments)
        self._swept_until: datetime | None = None
        self._rule_keys = RuleKeys(engine)
        payments.on_final(self._on_final)

    # -- rules ----------------------------------------------------------------------------

    def create_rule(
        self,
        *,
        merchant_id: str,
        product: str,
        currency: str,
        mode: SplitMode,
        receivers: Sequence[Share],
        freeze_s: int = 0,
        commission_bps: int = 0,
        commission_amount: int = 0,
    ) -> Rule:
        """The merchant's rule for a product and currency; it replaces the one before and
        applies to pay-ins paid from now on."""
        check_product(product)
        if not is_known_currency(currency):
            raise Rejected("unknown_currency", f"{currency!r} is not ISO 4217")
        rule = Rule(
            id=ids.new_id("srl"),
            merchant_id=merchant_id,
            product=product,
            currency=currency,
            mode=mode,
            freeze_s=freeze_s,
            receivers=tuple(receivers),
            commission_bps=commission_bps,
            commission_amount=commission_amount,
            created_at=self._clock.now(),
        )
        check_rule(rule)
        for share in rule.receivers:
            if self._wallets.find(merchant_id, share.owner, currency) is None:
                raise Rejected("receiver_has_no_wallet", f"{share.owner} has no {currency} wallet")
        self._ledger.create_accounts(
            [
                AccountRequest(
                    id=commission_account(currency), currency=currency, code=CODE_COMMISSION
                )
            ]
        )
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.replace_rule(conn, rule)
        self._rule_keys.forget(merchant_id)
        return rule

    def retire_rule(self, *, merchant_id: str, rule_id: str) -> None:
        """Stop splitting new pay-ins by this rule; splits already made stay as they are."""
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if not store.retire_rule(conn, merchant_id, rule_id):
                raise Rejected("split_rule_not_found", f"no active rule {rule_id}")
        self._rule_keys.forget(merchant_id)

    def rules(self, merchant_id: str | None) -> list[Rule]:
        with self._engine.connect() as conn:
            return store.active_rules(conn, merchant_id, limit=RULES_PAGE_MAX)

    # -- splitting a paid pay-in ----------------------------------------------------------

    def split_payin(self, payin: Order) -> Split | None:
        """The split of a succeeded pay-in, made once; None if no rule applies to it."""
        if payin.kind is not OrderKind.PAYIN or payin.status is not OrderStatus.SUCCEEDED:
            return None
        split_id = split_id_for(payin.id)
        # Two reads, each its own snapshot (as in a READ COMMITTED transaction).
        with one_read(self._engine) as conn:
            existing = store.get_split(conn, split_id)
            rule = store.active_rule(conn, payin.merchant_id, payin.product, payin.currency)
        if existing is not None:
            return self._book.finish_pending(existing)
        paid_at = payin.finished_at or payin.updated_at
        if rule is None or (rule.created_at is not None and rule.created_at > paid_at):
            return None
        split = self._new_split(split_id, payin, rule)
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            inserted = store.insert_split(conn, split)
        if not inserted:
            split = self._book.load(split_id)
        return self._book.finish_pending(split)

    def _new_split(self, split_id: str, payin: Order, rule: Rule) -> Split:
        now = self._clock.now()
        base = payin.amount - payin.fee_amount
        split = Split(
            id=split_id,
            merchant_id=payin.merchant_id,
            payin_id=payin.id,
            rule_id=rule.id,
            product=payin.product,
            currency=payin.currency,
            mode=rule.mode,
            freeze_s=rule.freeze_s,
            payin_amount=payin.amount,
            base=base,
            legs=[],
            status=SplitStatus.RECORDED,
            created_at=now,
            updated_at=now,
        )
        try:
            split.legs = plan_legs(split_id, rule, split_parts(base, rule))
        except Rejected as refused:
            split.status, split.failure_code = SplitStatus.FAILED, refused.code
            return split
        if rule.mode is SplitMode.DELAYED:
            split.expires_at = now + timedelta(seconds=rule.freeze_s)
        plan = apply_plan(split)
        if not plan.transfers:
            split.status = SplitStatus.SETTLED  # every part was zero: the merchant keeps all
            return split
        split.pending_op = {
            "kind": "apply",
            "transfers": store.transfers_doc(plan.transfers),
            "legs": store.legs_doc(plan.legs),
        }
        split.seq = 1
        return split

    def _on_final(self, order: Order) -> None:
        # Most merchants have no rule: asking the cache first spares their pay-ins any read.
        # A pay-in skipped because this process has not seen another's new rule yet is
        # split by the sweep of the next tick, like one whose listener call was lost.
        if (
            order.kind is OrderKind.PAYIN
            and order.status is OrderStatus.SUCCEEDED
            and self._rule_keys.may_apply(order.merchant_id, order.product, order.currency)
        ):
            self.split_payin(order)

    # -- confirm, cancel ----------------------------------------------------------------

    def confirm(
        self, *, merchant_id: str | None, split_id: str, parts: Mapping[str, int] | None = None
    ) -> Split:
        """Pay frozen parts out: all in full, or the named receivers up to their part (the
        rest of a named part goes back to the merchant)."""
        found = self.get(merchant_id=merchant_id, split_id=split_id)
        # The ledger lets a hold taken before a freeze be posted (a bank may have paid it);
        # a confirmation is the merchant's choice, so a platform freeze stops it here.
        wallet_id = merchant_books.wallet_account(found.merchant_id, found.currency)
        wallet = self._ledger.get_account(wallet_id)
        if wallet is not None and wallet.status is AccountStatus.FROZEN:
            raise Rejected("wallet_frozen", "the merchant wallet is frozen by the platform")

        def plan(split: Split, prefix: str) -> Plan:
            return confirm_plan(split, confirm_amounts(split, parts), prefix)

        split, failure = self._book.run(split_id, "confirm", plan)
        if failure is not None:
            split = self._book.sync_expired(split)
            code = "split_expired" if failure == "pending_transfer_expired" else "confirm_refused"
            raise Rejected(code, f"the ledger refused the confirmation: {failure}")
        return split

    def cancel(self, *, merchant_id: str | None, split_id: str) -> Split:
        """Release every frozen part back to the merchant."""
        found = self.get(merchant_id=merchant_id, split_id=split_id)
        if found.status not in (SplitStatus.FROZEN, SplitStatus.PARTIALLY_CONFIRMED):
            raise Rejected("split_not_frozen", f"{split_id} is {found.status}")
        split, failure = self._book.run(split_id, "cancel", cancel_plan)
        if failure is not None:
            raise Rejected("cancel_refused", f"the ledger refused the cancellation: {failure}")
        return split

    # -- refunds ------------------------------------------------------------------------

    def refund(
        self,
        *,
        merchant_id: str | None,
        split_id: str,
        amount: int,
        idempotency_key: str,
        parts: Mapping[str, int] | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Refund the payer after a split, clawing the split back first."""
        split = self.get(merchant_id=merchant_id, split_id=split_id)
        if split.status in (SplitStatus.RECORDED, SplitStatus.FAILED) or split.pending_op:
            split = self._book.finish_pending(split)
        if split.status is SplitStatus.RECORDED:
            raise Rejected("split_in_progress", f"{split_id} is being applied")
        return self._refunds.refund(
            split, amount=amount, parts=parts, idempotency_key=idempotency_key, reason=reason
        )

    def resume_refund(self, refund_id: str) -> dict[str, Any]:
        """A refund after split, carried as far as it can go now (the tick does it too)."""
        return self._refunds.resume(refund_id)

    def refunds_of(self, *, merchant_id: str | None, split_id: str) -> list[dict[str, Any]]:
        self.get(merchant_id=merchant_id, split_id=split_id)
        with self._engine.connect() as conn:
            return store.refunds_of(conn, split_id)

    # -- reads ----------------------------------------------------------------------------

    def get(self, *, merchant_id: str | None, split_id: str) -> Split:
        """A split; another merchant's is not found, like a missing one."""
        with self._engine.connect() as conn:
            split = store.get_split(conn, split_id)
        if split is None or (merchant_id is not None and split.merchant_id != merchant_id):
            raise Rejected("split_not_found", f"no split {split_id}")
        return self._book.sync_expired(split)

    def list(
        self, *, merchant_id: str | None, payin_id: str | None = None, limit: int = 50
    ) -> list[Split]:
        limit = max(1, min(limit, SPLITS_PAGE_MAX))
        with self._engine.connect() as conn:
            return store.list_splits(conn, merchant_id=merchant_id, payin_id=payin_id, limit=limit)

    # -- periodic work ------------------------------------------------------------------

    def tick(self) -> None:
        """Periodic work, called by the runtime's flows worker every few seconds: split the
        pay-ins a lost listener call missed, finish half-done operations, mark expired
        splits, and carry refunds on."""
        self._sweep_payins()
        with one_read(self._engine) as conn:
            due = store.splits_needing_work(conn, now=self._clock.now(), limit=SWEEP_PAGE)
        for split_id in due:
            self._book.sync_expired(self._book.finish_pending(self._book.load(split_id)))
        self._refunds.resume_unfinished()

    def _sweep_payins(self) -> None:
        now = self._clock.now()
        with one_read(self._engine) as conn:
            products = store.rule_products(conn)
        if not products:
            return
        start = now - LOOK_BACK if self._swept_until is None else self._swept_until - SWEEP_OVERLAP
        while True:
            paid = self._payments.finished_between(
                kind=OrderKind.PAYIN,
                status=OrderStatus.SUCCEEDED,
                start=start,
                end=now,
                products=products,
                limit=SWEEP_PAGE,
            )
            with self._engine.connect() as conn:
                done = store.split_ids_of_payins(conn, [p.id for p in paid]) if paid else set()
            for payin in paid:
                if payin.id not in done:
                    self.split_payin(payin)
            last = paid[-1].finished_at if paid else None
            if len(paid) < SWEEP_PAGE or last is None or last <= start:
                break
            start = last
        self._swept_until = now
