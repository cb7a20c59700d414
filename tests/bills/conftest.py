"""Shared fixtures of the bills tests: a runtime with a scripted bank (`alpha`) and a
merchant whose journal spans October and November 2026 in every flow a bill shows.

Pay-ins, refunds and payouts go through the payments service and the fake bank; split,
custody, collection, rewards and wallet money are written to the ledger with the ids and
reason codes those flows use, on the merchant's own and its wallet owners' accounts.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from paycore.channels.model import BankAccount, Payer
from paycore.clock import ManualClock
from paycore.ledger.model import AccountFlags, TransferFlags, TransferRequest
from paycore.ledger.service import AccountRequest
from paycore.payments.service import PayinCommand, PayoutCommand, RefundCommand
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.payments.fakes import SECRET, ScriptedChannel, callback_body, succeeded
from tests.payments.http_conftest import (
    one_scripted_bank,
    runtime_with_one_scripted_bank,
)

# The one-bank fixtures, under the names this slice's tests (and consistency's) use.
alpha = one_scripted_bank
runtime = runtime_with_one_scripted_bank

OCT_START = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 October in Shanghai
BENEFICIARY = BankAccount(account_number="6214830100001234", name="李四", bank_code="CMB")
PAYER = Payer(card_number="6228480402564890018", name="张三", phone="13812345678")
_ids = itertools.count(1)


FIELD_KEY = bytes(range(32))
FIELD_KEYS = "bills1:" + base64.b64encode(FIELD_KEY).decode()
"""The key of `field_cipher` here: a command line run by a test gets it in
PAYCORE_FIELD_KEYS, to open the orders' details the test's runtime sealed."""


@pytest.fixture
def field_cipher() -> FieldCipher:
    return FieldCipher({"bills1": FIELD_KEY}, "bills1")


@dataclass
class Shop:
    """A merchant and the means to write its journal."""

    runtime: Runtime
    clock: ManualClock
    alpha: ScriptedChannel
    merchant_id: str
    key: str
    payins: list[str] = field(default_factory=list)

    @property
    def wallet(self) -> str:
        return f"acct_mw_{self.merchant_id}_CNY"

    def at(self, when: datetime) -> None:
        """Move the clock forward to `when`."""
        self.clock.advance((when - self.clock.now()).total_seconds())

    def payin(self, amount: int, product: str = "rent") -> str:
        self.alpha.then(succeeded())
        cmd = PayinCommand(self.merchant_id, product, amount, "CNY", PAYER, "rent")
        created = self.runtime.payments.create_payin(cmd, idempotency_key=f"in-{next(_ids)}")
        order_id = str(created.body["id"])
        self.payins.append(order_id)
        return order_id

    def refund(self, payin_id: str, amount: int) -> str:
        self.alpha.then(succeeded())
        cmd = RefundCommand(self.merchant_id, payin_id, amount)
        created = self.runtime.payments.create_refund(cmd, idempotency_key=f"rf-{next(_ids)}")
        return str(created.body["id"])

    def payout(self, amount: int, *, answer: str | None = "succeeded") -> str:
        """A payout; `answer` is the bank's callback (None: still on hold)."""
        cmd = PayoutCommand(self.merchant_id, amount, "CNY", BENEFICIARY)
        created = self.runtime.payments.create_payout(cmd, idempotency_key=f"po-{next(_ids)}")
        order_id = str(created.body["id"])
        if answer == "returned":  # the bank paid it, then sent it back
            self.callback("payout", order_id, "succeeded")
        if answer is not None:
            self.callback("payout", order_id, answer)
        return order_id

    def callback(self, operation: str, order_id: str, status: str) -> None:
        body = callback_body(
            notification_id=f"n-{next(_ids)}",
            operation=operation,
            reference=order_id,
            status=status,
        )
        self.runtime.payments.handle_callback(
            channel="alpha", headers={"x-fake-signature": SECRET}, body=body
        )

    def account(self, account_id: str, code: int, owner: str, *, debit_normal: bool = False) -> str:
        flags = (
            AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
            if debit_normal
            else AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        )
        self.runtime.ledger.create_accounts(
            [
                AccountRequest(id="acct_test_outside_CNY", currency="CNY"),
                AccountRequest(
                    id=account_id, currency="CNY", code=code, owner_id=owner, flags=flags
                ),
            ]
        )
        return account_id

    def move(
        self,
        transfer_id: str,
        code: int,
        amount: int,
        *,
        debit: str = "acct_test_outside_CNY",
        credit: str = "acct_test_outside_CNY",
        pending: bool = False,
    ) -> None:
        """One transfer as a flow writes it (its id namespace and reason code)."""
        flags = TransferFlags.PENDING.value if pending else 0
        request = TransferRequest(
            id=transfer_id,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            currency="CNY",
            code=code,
            flags=flags,
            timeout_s=86_400 if pending else 0,
        )
        [result] = self.runtime.ledger.create_transfers([request])
        assert result.result == "created", result

    def close_pending(self, transfer_id: str, pending_id: str, *, post: bool) -> None:
        flag = TransferFlags.POST_PENDING if post else TransferFlags.VOID_PENDING
        request = TransferRequest(id=transfer_id, pending_id=pending_id, flags=flag.value)
        [result] = self.runtime.ledger.create_transfers([request])
        assert result.result == "created", result


def new_shop(runtime: Runtime, clock: ManualClock, alpha: ScriptedChannel, name: str) -> Shop:
    merchant, _secret = runtime.merchants.create(name=name, fee_bps=100)
    _key, clear = runtime.api_keys.issue(merchant_id=merchant.id, scopes=None)
    return Shop(runtime, clock, alpha, merchant.id, clear)


@pytest.fixture
def shop(runtime: Runtime, clock: ManualClock, alpha: ScriptedChannel) -> Shop:
    """A merchant with a 1% fee and no journal yet; the clock is on 1 October 2026."""
    found = new_shop(runtime, clock, alpha, "Lakeside Rentals")
    found.at(OCT_START)
    return found


@pytest.fixture
def billed_merchant(shop: Shop) -> Shop:
    """`shop` after two months of business in every flow a bill shows."""
    write_two_months(shop)
    return shop


def write_two_months(shop: Shop) -> None:
    m = shop.merchant_id
    landlord = shop.account(f"acct_uw_{m}_landlord", 2002, f"{m}:landlord")
    debt = shop.account(f"acct_ur_{m}_landlord", 1301, f"{m}:landlord", debit_normal=True)
    custody = shop.account(f"acct_cs_{m}_flat9", 2201, f"{m}:flat9")
    budget = shop.account(f"acct_rb_{m}_CNY", 2003, m)
    hour = 3600
    # October
    first = shop.payin(100_000, "rent")
    shop.clock.advance(hour)
    shop.payin(50_000, "deposit")
    shop.clock.advance(hour)
    shop.payin(30_000, "rent")
    shop.refund(first, 20_000)
    shop.clock.advance(hour)
    shop.payout(40_000)
    shop.move("tr_spl_oct1", 30, 12_000, debit=shop.wallet, credit=landlord)
    shop.move("tr_spl_oct1_back", 33, 2_000, debit=landlord, credit=shop.wallet)
    shop.move("tr_cus_flat9_in", 40, 8_000, credit=custody)
    shop.move("tr_cus_flat9_match", 42, 5_000, debit=custody)
    shop.move("tr_rbf_fund1", 60, 9_000, credit=budget)
    shop.move("tr_rw_r1", 61, 1_500, debit=budget)
    shop.move("tr_col_c1_debt", 50, 3_000, debit=debt)
    shop.at(datetime(2026, 10, 31, 15, 30, tzinfo=UTC))  # 23:30 on the 31st in Shanghai
    shop.payin(20_000, "rent")
    # November (Shanghai): 00:30 on 1 November is 16:30 UTC on 31 October
    shop.at(datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    shop.payin(60_000, "rent")
    shop.payout(10_000, answer="returned")
    shop.move("tr_top_t1", 20, 4_000, credit=landlord)
    shop.move("tr_rpy_r1", 21, 1_000, debit=landlord, credit=debt)
    shop.at(datetime(2026, 11, 10, 3, 0, tzinfo=UTC))
    shop.payin(25_000, "deposit")
    shop.move("tr_cus_flat9_back", 41, 3_000, debit=custody)
    shop.payout(15_000, answer=None)  # still on hold
    shop.move("tr_adj_fix1", 30, 700, credit=shop.wallet)
    shop.at(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
    shop.payin(5_000, "rent")
