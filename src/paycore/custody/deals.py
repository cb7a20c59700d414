"""Deals and deposit -> commission (定转佣): a deal names buyer, seller and agency and the
deposit; receipts of the buyer are matched to it; closing it splits the deposit into the
agency's commission and the rest in one linked set of transfers, or moves nothing."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from paycore import ids
from paycore.clock import Clock
from paycore.custody import store
from paycore.custody.bookkeeping import close_legs, ledger_problem
from paycore.custody.model import (
    CustodyBank,
    Deal,
    Receipt,
    ReceiptStatus,
    RestTo,
    Role,
    check_close,
    check_deal_parties,
    day_end,
)
from paycore.custody.subaccounts import SubAccounts
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.payments.model import check_amount
from paycore.platform.db import WRITER
from paycore.wallets.model import check_owner

LIST_MAX = 500


class Deals:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        subaccounts: SubAccounts,
        bank_of: Callable[[str], CustodyBank],
        receipt_of: Callable[[str | None, str], Receipt],
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._subaccounts = subaccounts
        self._bank_of = bank_of
        self._receipt_of = receipt_of

    def create(
        self,
        merchant_id: str,
        *,
        bank: str,
        buyer: str,
        seller: str,
        agency: str,
        deposit_amount: int,
    ) -> Deal:
        found = self._bank_of(bank)
        check_deal_parties(buyer, seller, agency)
        check_amount(deposit_amount, found.currency)
        for owner in (buyer, seller, agency):
            check_owner(owner)
        for owner, role in ((buyer, Role.BUYER), (seller, Role.SELLER), (agency, Role.AGENCY)):
            self._subaccounts.open(merchant_id, found, owner=owner, role=role)
        deal = Deal(
            id=ids.new_id("deal"),
            merchant_id=merchant_id,
            bank=bank,
            buyer=buyer,
            seller=seller,
            agency=agency,
            deposit_amount=deposit_amount,
            currency=found.currency,
            funded_amount=0,
            status="open",
            created_at=self._clock.now(),
        )
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.insert_deal(conn, deal)
        return deal

    def get(self, merchant_id: str | None, deal_id: str) -> Deal:
        with self._engine.connect() as conn:
            found = store.get_deal(conn, deal_id)
        if found is None or (merchant_id is not None and found[0].merchant_id != merchant_id):
            raise Rejected("deal_not_found", f"no deal {deal_id}")
        return found[0]

    def of_merchant(self, merchant_id: str | None) -> list[Deal]:
        with self._engine.connect() as conn:
            return store.list_deals(conn, merchant_id=merchant_id, limit=LIST_MAX)

    def match(self, merchant_id: str | None, *, receipt_id: str, deal_id: str) -> Receipt:
        """Tie a receipt to the deal its payer is buyer of; again for the same deal: no-op."""
        receipt = self._receipt_of(merchant_id, receipt_id)
        deal = self.get(receipt.merchant_id, deal_id)
        if receipt.status is ReceiptStatus.MATCHED and receipt.deal_id == deal.id:
            return receipt
        if receipt.status is not ReceiptStatus.UNMATCHED:
            raise Rejected("receipt_not_matchable", f"{receipt.id} is {receipt.status}")
        if receipt.bank != deal.bank or receipt.owner != deal.buyer:
            raise Rejected("receipt_not_from_buyer", f"{receipt.id} was not paid by {deal.buyer}")
        now = self._clock.now()
        if now >= day_end(self._bank_of(receipt.bank), receipt.business_date):
            raise Rejected("receipt_past_cutoff", "its business day ended: it is being refunded")
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if not store.update_receipt(
                conn,
                receipt.id,
                now=now,
                expect_status=ReceiptStatus.UNMATCHED,
                status=ReceiptStatus.MATCHED,
                deal_id=deal.id,
            ):
                raise Rejected("receipt_not_matchable", f"{receipt.id} changed meanwhile")
            if not store.fund_deal(conn, deal, receipt.amount):  # raising rolls both back
                raise Rejected(
                    "deposit_exceeded", f"{deal.id} is open for {deal.deposit_amount} at most"
                )
            return store.get_receipt(conn, receipt.id) or receipt

    def close(
        self, merchant_id: str | None, *, deal_id: str, commission: int, rest_to: RestTo
    ) -> Deal:
        """定转佣: commission to the agency, the rest to the seller (or left with the buyer),
        in one linked set: all of it moves or nothing does, and the deal stays open."""
        deal = self.get(merchant_id, deal_id)
        bank = self._bank_of(deal.bank)
        self._resume_close(bank, deal.id)
        deal = self.get(merchant_id, deal_id)
        if deal.status == "closed" and (deal.commission, deal.rest_to) == (commission, rest_to):
            return deal
        check_close(deal, commission)
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            # The intent first: a crash after the transfers is finished by the next call.
            # Only on an open deal with no close in flight and the attempt we read: two
            # closes at once must not swap terms under each other's transfers.
            claimed = store.update_deal(
                conn,
                deal.id,
                expect_closing=False,
                expect_attempt=deal.close_attempt,
                closing=True,
                commission=commission,
                rest_to=rest_to,
            )
        if not claimed:
            raise Rejected("deal_close_in_progress", f"{deal.id} is being closed by another call")
        problem = self._resume_close(bank, deal.id)
        if problem is not None:
            raise Rejected("deal_close_failed", f"nothing moved, {deal.id} stays open: {problem}")
        return self.get(merchant_id, deal_id)

    def _resume_close(self, bank: CustodyBank, deal_id: str) -> str | None:
        """Post the close in flight, if any: closed on success; on failure the intent is
        dropped and the next attempt gets new transfer ids. Returns the ledger's refusal."""
        with self._engine.connect() as conn:
            found = store.get_deal(conn, deal_id)
        if found is None or not found[1]:
            return None
        deal = found[0]
        rest_to = deal.rest_to or RestTo.SELLER
        legs = close_legs(bank, deal, commission=deal.commission or 0, rest_to=rest_to)
        problem = ledger_problem(self._ledger.create_transfers(legs)) if legs else None
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            # Whoever finished this very close first records it; the others change nothing.
            if problem is None:
                closed_at = self._clock.now()
                store.update_deal(
                    conn,
                    deal.id,
                    expect_closing=True,
                    expect_attempt=deal.close_attempt,
                    closing=False,
                    status="closed",
                    closed_at=closed_at,
                )
            else:
                store.update_deal(
                    conn,
                    deal.id,
                    expect_closing=True,
                    expect_attempt=deal.close_attempt,
                    closing=False,
                    commission=None,
                    rest_to=None,
                    close_attempt=deal.close_attempt + 1,
                )
        return problem
