"""Fixtures of the finance tests: a runtime with the scripted bank `alpha`, and a business
day (30 November 2026, China time) of real money movements through the services:
pay-ins with fees, a refund, payouts (one paid, one declined, one still on hold), an
immediate split with a commission, and a deposit into custody (unmatched: the cut-off
after midnight sends it back). The push tests may reuse them:
`finance` is a `Finance` on the test database, `seeded_day` the day (derived by nobody).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest

from paycore.channels.model import BankAccount, Payer
from paycore.clock import ManualClock
from paycore.finance.service import Finance
from paycore.payments.service import PayinCommand, PayoutCommand, RefundCommand
from paycore.runtime import Runtime
from paycore.split.model import Share, SplitMode
from tests.payments.fakes import SECRET, ScriptedChannel, callback_body, declined, succeeded
from tests.payments.http_conftest import one_scripted_bank, runtime_with_one_scripted_bank

alpha = one_scripted_bank
runtime = runtime_with_one_scripted_bank

SEEDED_DAY = date(2026, 11, 30)
DAY_START = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)  # 00:00 on the 30th in Shanghai
DAY_END = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
PAYER = Payer(card_number="6228480402564890018", name="张三", phone="13812345678")
BENEFICIARY = BankAccount(account_number="6214830100001234", name="李四", bank_code="CMB")
_ids = itertools.count(1)


@dataclass
class Shop:
    """A merchant (1% fee) of the runtime, moving money through the services."""

    runtime: Runtime
    clock: ManualClock
    alpha: ScriptedChannel
    merchant_id: str
    payins: list[str] = field(default_factory=list)

    def at(self, when: datetime) -> None:
        self.clock.advance((when - self.clock.now()).total_seconds())

    def payin(self, amount: int, product: str = "rent", *, custody_owner: str = "") -> str:
        """A pay-in the bank confirms at once; `house_deposit` with a `custody_owner` lands
        in the built-in sandbox custody bank (cut-off 24:00 China time)."""
        self.alpha.then(succeeded())
        meta = {"custody_owner": custody_owner} if custody_owner else {}
        cmd = PayinCommand(self.merchant_id, product, amount, "CNY", PAYER, "rent", metadata=meta)
        created = self.runtime.payments.create_payin(cmd, idempotency_key=f"in-{next(_ids)}")
        self.payins.append(str(created.body["id"]))
        return self.payins[-1]

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

    def split_rule(self) -> None:
        """Pay-ins of product `goods` give alice 30% and the platform 5% at once."""
        self.runtime.wallets.open(self.merchant_id, "alice", "CNY")
        self.runtime.split.create_rule(
            merchant_id=self.merchant_id,
            product="goods",
            currency="CNY",
            mode=SplitMode.IMMEDIATE,
            receivers=[Share("alice", bps=3_000)],
            freeze_s=0,
            commission_bps=500,
            commission_amount=0,
        )


@pytest.fixture
def shop(runtime: Runtime, clock: ManualClock, alpha: ScriptedChannel) -> Shop:
    merchant, _secret = runtime.merchants.create(name="Lakeside Rentals", fee_bps=100)
    found = Shop(runtime, clock, alpha, merchant.id)
    found.at(DAY_START.replace(hour=17))  # 01:00 on the 30th in Shanghai
    return found


def write_day(shop: Shop) -> None:
    """The seeded day's movements; the clock ends at 23:30 on the 30th (Shanghai)."""
    shop.split_rule()
    first = shop.payin(100_000)
    shop.clock.advance(3600)
    shop.payin(50_000, "goods")  # fee 500, split: alice 14,850, commission 2,475
    shop.payin(30_000)
    shop.refund(first, 20_000)
    shop.clock.advance(3600)
    shop.payout(40_000)
    shop.alpha.then(declined("account_closed"))
    shop.payout(5_000, answer=None)  # declined: the hold is voided, no accounting event
    shop.payout(7_000, answer=None)  # still on hold at the day's end
    shop.payin(8_000, "house_deposit", custody_owner="buyer-1")  # into custody, unmatched
    shop.at(datetime(2026, 11, 30, 15, 30, tzinfo=UTC))
    shop.payin(20_000)


@pytest.fixture
def seeded_day(shop: Shop) -> Shop:
    """`shop` after a day of business on SEEDED_DAY; the clock stays inside the day."""
    write_day(shop)
    return shop


def after_day(clock: ManualClock, grace_s: float = 61) -> None:
    """Move the clock past the seeded day's end and the derivation grace."""
    clock.advance((DAY_END - clock.now()).total_seconds() + grace_s)


@dataclass
class FakeReceiver:
    """The finance system's booked list, as the push client reports it."""

    days: dict[date, dict[str, str]] = field(default_factory=dict)

    def booked(self, business_date: date) -> Mapping[str, str]:
        return dict(self.days.get(business_date, {}))

    def book_all(self, finance: Finance, business_date: date) -> None:
        self.days[business_date] = {
            r.voucher.id: r.body_hash for r in finance.vouchers(business_date)
        }


@pytest.fixture
def receiver() -> FakeReceiver:
    return FakeReceiver()


@pytest.fixture
def finance(runtime: Runtime, receiver: FakeReceiver) -> Finance:
    return Finance(runtime.engine, runtime.clock, booked=receiver.booked)
