"""Bank custody (资金存管) use cases, one entry point for HTTP, CLI, demo and the flows
worker. The work is done in its rooms: `subaccounts.py`, `landing.py`, `deals.py`,
`cutoff.py`; the daily check of the pool is here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from paycore import ids, strict_json
from paycore.clock import Clock
from paycore.custody import store, store_runs
from paycore.custody.bookkeeping import pool_account
from paycore.custody.cutoff import CutoffJob
from paycore.custody.deals import Deals
from paycore.custody.landing import Landing
from paycore.custody.model import (
    DEFAULT_BANK,
    SUBACCOUNTS_CHECKED_MAX,
    CustodyBank,
    CutoffRun,
    DailyCheck,
    Deal,
    Receipt,
    ReceiptStatus,
    RestTo,
    Role,
    SubAccount,
    check_business_date,
    day_end,
    parse_banks,
)
from paycore.custody.statement_money import StatementMoney
from paycore.custody.subaccounts import SubAccounts, VirtualAccounts
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.payments.model import Order, OrderKind, OrderStatus
from paycore.payments.service import Payments
from paycore.platform.config import Settings
from paycore.platform.db import WRITER
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher

LIST_MAX = 500


def load_banks(settings: Settings) -> list[CustodyBank]:
    if not settings.custody_file:
        return [DEFAULT_BANK]
    try:
        doc = strict_json.loads(Path(settings.custody_file).read_bytes())
    except OSError as error:
        raise Rejected("invalid_custody_config", f"{settings.custody_file}: {error}") from None
    except strict_json.MalformedJson as error:
        detail = f"{settings.custody_file}: not JSON: {error.detail}"
        raise Rejected("invalid_custody_config", detail) from None
    return parse_banks(doc)


class Custody:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        payments: Payments,
        cipher: FieldCipher,
        blind: BlindIndex,
        banks: Sequence[CustodyBank] | None = None,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        configured = list(banks) if banks is not None else load_banks(settings)
        self._banks = {b.name: b for b in configured}
        self._after_step: Callable[[str], None] = lambda _name: None
        """Called after each persisted step of the cut-off; tests make it raise (a crash)."""
        numbers = VirtualAccounts(cipher=cipher, indexer=blind.indexer)
        self._subaccounts = SubAccounts(engine=engine, ledger=ledger, clock=clock, numbers=numbers)
        self._landing = Landing(
            engine=engine,
            ledger=ledger,
            clock=clock,
            payments=payments,
            subaccounts=self._subaccounts,
            banks=configured,
        )
        self._deals = Deals(
            engine=engine,
            ledger=ledger,
            clock=clock,
            subaccounts=self._subaccounts,
            bank_of=self.bank,
            receipt_of=self.get_receipt,
        )
        self.statement_money = StatementMoney(
            engine=engine,
            clock=clock,
            ledger=ledger,
            cipher=cipher,
            landing=self._landing,
            banks=configured,
            blind=blind,
            numbers=numbers,
        )
        self.cutoff = CutoffJob(
            engine=engine,
            ledger=ledger,
            clock=clock,
            payments=payments,
            report_dir=Path(settings.data_dir) / "custody",
            bank_of=self.bank,
            after_step=lambda name: self._after_step(name),
            payer_of=self.statement_money.payer,
        )
        payments.on_final(self._on_final)

    # -- banks and sub-accounts ---------------------------------------------------------------

    def banks(self) -> list[CustodyBank]:
        return list(self._banks.values())

    def bank(self, name: str) -> CustodyBank:
        found = self._banks.get(name)
        if found is None:
            raise Rejected("custody_bank_not_found", f"no custody bank {name!r}")
        return found

    def open_subaccount(
        self,
        merchant_id: str,
        *,
        bank: str,
        owner: str,
        role: Role,
        virtual_account: str | None = None,
    ) -> SubAccount:
        """Open (or find) an owner's sub-account; again with the same terms is a no-op."""
        return self._subaccounts.open(
            merchant_id, self.bank(bank), owner=owner, role=role, virtual_account=virtual_account
        )

    def get_subaccount(self, merchant_id: str, *, bank: str, owner: str) -> SubAccount:
        return self._subaccounts.get(merchant_id, self.bank(bank), owner=owner)

    def subaccounts(self, merchant_id: str | None, *, bank: str) -> list[SubAccount]:
        return self._subaccounts.of_bank(merchant_id, self.bank(bank))

    # -- receipts -----------------------------------------------------------------------------

    def _on_final(self, order: Order) -> None:
        if order.kind is OrderKind.PAYIN and order.status is OrderStatus.SUCCEEDED:
            self._landing.land(order)
        elif order.kind is OrderKind.REFUND and order.parent_id:
            self.cutoff.apply_refund_outcome(order.parent_id)

    def land(self, order: Order) -> Receipt | None:
        """Move a succeeded custody pay-in into its payer's sub-account (once per pay-in)."""
        return self._landing.land(order)

    def receipts(
        self,
        merchant_id: str | None,
        *,
        bank: str | None = None,
        business_date: date | None = None,
        status: ReceiptStatus | None = None,
    ) -> list[Receipt]:
        with self._engine.connect() as conn:
            return store.list_receipts(
                conn,
                merchant_id=merchant_id,
                bank=bank,
                business_date=business_date,
                statuses=[status] if status else None,
                limit=LIST_MAX,
            )

    def get_receipt(self, merchant_id: str | None, receipt_id: str) -> Receipt:
        with self._engine.connect() as conn:
            receipt = store.get_receipt(conn, receipt_id)
        if receipt is None or (merchant_id is not None and receipt.merchant_id != merchant_id):
            raise Rejected("receipt_not_found", f"no custody receipt {receipt_id}")
        return receipt

    # -- deals --------------------------------------------------------------------------------

    def create_deal(
        self,
        merchant_id: str,
        *,
        bank: str,
        buyer: str,
        seller: str,
        agency: str,
        deposit_amount: int,
    ) -> Deal:
        return self._deals.create(
            merchant_id,
            bank=bank,
            buyer=buyer,
            seller=seller,
            agency=agency,
            deposit_amount=deposit_amount,
        )

    def get_deal(self, merchant_id: str | None, deal_id: str) -> Deal:
        return self._deals.get(merchant_id, deal_id)

    def deals(self, merchant_id: str | None) -> list[Deal]:
        return self._deals.of_merchant(merchant_id)

    def match(self, merchant_id: str | None, *, receipt_id: str, deal_id: str) -> Receipt:
        """Tie a receipt to the deal its payer is buyer of; again for the same deal: no-op."""
        return self._deals.match(merchant_id, receipt_id=receipt_id, deal_id=deal_id)

    def close_deal(
        self, merchant_id: str | None, *, deal_id: str, commission: int, rest_to: RestTo
    ) -> Deal:
        """定转佣, all or nothing (see deals.py)."""
        return self._deals.close(
            merchant_id, deal_id=deal_id, commission=commission, rest_to=rest_to
        )

    # -- cut-off, checks and the periodic work ------------------------------------------------

    def run_cutoff(self, bank: str, business_date: date) -> CutoffRun:
        found = self.bank(bank)
        check_business_date(found, business_date)
        return self.cutoff.run(found, business_date)

    def cutoff_report(self, bank: str, business_date: date) -> CutoffRun:
        return self.cutoff.report(self.bank(bank), business_date)

    def cutoff_runs(self, bank: str) -> list[dict[str, Any]]:
        self.bank(bank)
        with self._engine.connect() as conn:
            return [dict(r) for r in store_runs.list_runs(conn, bank=bank, limit=LIST_MAX)]

    def daily_check(
        self, bank: str, business_date: date, *, bank_balance: int | None = None
    ) -> DailyCheck:
        """Prove sum(sub-accounts) == the pool (and the bank's own figure when given), as
        of the day's end (or now, during the day). Stored, so yesterday's proof stays."""
        found = self.bank(bank)
        check_business_date(found, business_date)
        at = min(day_end(found, business_date), self._clock.now() + timedelta(microseconds=1))
        with self._engine.connect() as conn:
            rows = store.list_subaccounts(
                conn, bank=bank, merchant_id=None, limit=SUBACCOUNTS_CHECKED_MAX
            )
        total = 0
        for row in rows:
            _dp, debits, _cp, credits = self._balance_at(row["account_id"], at)
            total += credits - debits
        _dp, pool_debits, _cp, pool_credits = self._balance_at(pool_account(found), at)
        check = DailyCheck(
            id=ids.new_id("ccheck"),
            bank=bank,
            business_date=business_date,
            subaccounts_total=total,
            pool_balance=pool_debits - pool_credits,
            bank_balance=bank_balance,
            checked_at=self._clock.now(),
        )
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store_runs.insert_check(conn, check)
        return check

    def checks(self, bank: str) -> list[DailyCheck]:
        self.bank(bank)
        with self._engine.connect() as conn:
            return store_runs.list_checks(conn, bank=bank, limit=LIST_MAX)

    def _balance_at(self, account_id: str, at: datetime) -> tuple[int, int, int, int]:
        try:
            return self._ledger.balance_at(account_id, at)
        except Rejected:  # never used yet: nothing in it
            return (0, 0, 0, 0)

    def tick(self) -> None:
        """Periodic work, called by the runtime's flows worker every few seconds: land
        missed pay-ins, retry landings, follow refunds, and run every cut-off that is due."""
        self._landing.sweep()
        self._landing.retry_stuck()
        self.cutoff.follow_refunds()
        now = self._clock.now()
        for bank in self._banks.values():
            for day in self.cutoff.due_days(bank, now):
                self.cutoff.run(bank, day)
