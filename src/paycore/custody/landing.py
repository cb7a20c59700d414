"""Landing: a succeeded pay-in of a custody product moves into its payer's sub-account
and becomes a receipt. The `on_final` listener lands it at once; the sweep of finished
pay-ins catches any the listener missed (a crash, another process)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from paycore.clock import Clock
from paycore.custody import store, store_runs
from paycore.custody.bookkeeping import (
    into_custody,
    ledger_problem,
    receipt_transfer_id,
    subaccount_id,
)
from paycore.custody.model import (
    OWNER_METADATA_KEY,
    CustodyBank,
    Receipt,
    ReceiptStatus,
    Role,
    business_date_of,
)
from paycore.custody.subaccounts import SubAccounts
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.payments import bookkeeping as books
from paycore.payments.model import Order, OrderKind, OrderStatus
from paycore.payments.service import Payments
from paycore.platform.db import WRITER
from paycore.wallets.model import check_owner

log = logging.getLogger(__name__)

SWEEP_NAME = "payins"
SWEEP_LOOKBACK = timedelta(days=2)
"""The first sweep looks this far back; later sweeps start where the last one ended."""
SWEEP_OVERLAP = timedelta(minutes=10)
"""Orders commit a little after their finished_at: each sweep re-reads this much."""
SWEEP_PAGE = 500
SWEEP_MARK_EVERY = timedelta(minutes=1)
"""An idle sweep (nothing found) moves its mark on at most this often: the mark is one
write transaction, and the flows thread sweeps every 2 s. Re-reading up to this much more
than SWEEP_OVERLAP is harmless: landing a pay-in twice lands it once."""
RETRY_MAX = 500


class Landing:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        payments: Payments,
        subaccounts: SubAccounts,
        banks: Sequence[CustodyBank],
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._payments = payments
        self._subaccounts = subaccounts
        self._by_product = {p: b for b in banks for p in b.products}
        self._by_name = {b.name: b for b in banks}

    def land(self, order: Order) -> Receipt | None:
        """The pay-in's receipt, landing it first if needed; None if it is not custody's."""
        bank = self._by_product.get(order.product)
        if bank is None or order.status is not OrderStatus.SUCCEEDED:
            return None
        owner = str(order.metadata.get(OWNER_METADATA_KEY, ""))
        amount = order.amount - order.fee_amount
        if order.currency != bank.currency or amount <= 0 or not _valid_owner(owner):
            log.warning("custody pay-in %s cannot land: currency, amount or owner", order.id)
            return None
        with self._engine.connect() as conn:
            receipt = store.get_receipt(conn, order.id)
        if receipt is None:
            self._subaccounts.ensure(order.merchant_id, bank, owner=owner, role=Role.BUYER)
            receipt = self.record(_receipt_of(bank, order, owner, amount))
        if receipt.status is not ReceiptStatus.LANDING:
            return receipt
        return self.post(bank, receipt)

    def record(
        self, receipt: Receipt, *, on_record: Callable[[Connection], None] | None = None
    ) -> Receipt:
        """Record a receipt about to land, once: the stored one if another worker (the
        listener and the sweep, two reconciliation runs) recorded it first."""
        try:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.insert_receipt(conn, receipt, self._clock.now())
                if on_record is not None:  # e.g. the payer's blind index, with the row
                    on_record(conn)
        except IntegrityError:
            pass  # raced: the other one's stands
        with self._engine.connect() as conn:
            return store.get_receipt(conn, receipt.id) or receipt

    def post(self, bank: CustodyBank, receipt: Receipt) -> Receipt:
        """Move a recorded receipt's money into its sub-account: from the merchant's wallet
        (a pay-in's net), or from where a statement receipt's money waited."""
        legs = into_custody(
            bank,
            transfer_id=receipt_transfer_id(receipt.id, "in", receipt.move_attempt),
            wallet=receipt.source_account
            or books.wallet_account(receipt.merchant_id, receipt.currency),
            subaccount=subaccount_id(bank, receipt.merchant_id, receipt.owner),
            amount=receipt.amount,
            meta={"receipt_id": receipt.id, "merchant_id": receipt.merchant_id},
        )
        problem = ledger_problem(self._ledger.create_transfers(legs))
        now = self._clock.now()
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if problem is None:
                store.update_receipt(
                    conn,
                    receipt.id,
                    now=now,
                    expect_status=ReceiptStatus.LANDING,
                    status=ReceiptStatus.UNMATCHED,
                    error=None,
                )
            else:  # a failed id is remembered by the ledger: the next try uses a new one
                log.warning("custody receipt %s did not land: %s", receipt.id, problem)
                store.update_receipt(
                    conn, receipt.id, now=now, move_attempt=receipt.move_attempt + 1, error=problem
                )
            return store.get_receipt(conn, receipt.id) or receipt

    def retry_stuck(self) -> None:
        """Receipts whose move into custody failed (a frozen sub-account, say): try again."""
        with self._engine.connect() as conn:
            stuck = store.list_receipts(conn, statuses=[ReceiptStatus.LANDING], limit=RETRY_MAX)
        for receipt in stuck:
            self.post(self._by_name[receipt.bank], receipt)

    def sweep(self) -> None:
        """Land every custody pay-in that succeeded since the last sweep."""
        if not self._by_product:
            return
        # [start, end): one microsecond on, so an order finished this very instant is in.
        end = self._clock.now() + timedelta(microseconds=1)
        with self._engine.connect() as conn:
            last = store_runs.swept_until(conn, SWEEP_NAME)
        start = (last - SWEEP_OVERLAP) if last else end - SWEEP_LOOKBACK
        found = False
        while True:
            page = self._payments.finished_between(
                kind=OrderKind.PAYIN,
                status=OrderStatus.SUCCEEDED,
                start=start,
                end=end,
                products=list(self._by_product),
                limit=SWEEP_PAGE,
            )
            found = found or bool(page)
            for order in page:
                self.land(order)
            if len(page) < SWEEP_PAGE or page[-1].finished_at in (None, start):
                break
            start = page[-1].finished_at or end
        if found or last is None or end - last >= SWEEP_MARK_EVERY:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store_runs.set_swept_until(conn, SWEEP_NAME, end)


def _receipt_of(bank: CustodyBank, order: Order, owner: str, amount: int) -> Receipt:
    received_at = order.finished_at or order.updated_at
    return Receipt(
        id=order.id,
        bank=bank.name,
        merchant_id=order.merchant_id,
        owner=owner,
        amount=amount,
        currency=bank.currency,
        received_at=received_at,
        business_date=business_date_of(bank, received_at),
        status=ReceiptStatus.LANDING,
    )


def _valid_owner(owner: str) -> bool:
    try:
        check_owner(owner)
    except Rejected:
        return False
    return True
