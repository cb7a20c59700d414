"""A runtime whose pay-ins and refunds go through a scripted bank (alpha), a merchant
with a 1% fee, and its receivers' wallets, for the split tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from paycore.channels.model import Payer
from paycore.ledger.model import AccountFlags, TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.payments import bookkeeping as books
from paycore.payments.model import Order
from paycore.payments.service import PayinCommand
from paycore.runtime import Runtime
from paycore.split.model import Share, SplitMode
from paycore.split.service import Splits
from paycore.wallets.model import Wallet
from tests.payments.fakes import ScriptedChannel, declined, succeeded
from tests.payments.http_conftest import (
    one_scripted_bank,
    runtime_with_one_scripted_bank,
)

# The one-bank fixtures, under the names this slice's tests (and consistency's) use.
alpha = one_scripted_bank
runtime = runtime_with_one_scripted_bank

CARD = "6222021234567890123"

_keys = itertools.count(1)


@dataclass
class Shop:
    """A merchant of the runtime, paid through the scripted bank."""

    runtime: Runtime
    alpha: ScriptedChannel
    merchant_id: str

    @property
    def splits(self) -> Splits:
        return self.runtime.split

    def open(self, *owners: str, allow_negative: bool = False) -> None:
        for owner in owners:
            self.runtime.wallets.open(self.merchant_id, owner, "CNY", allow_negative=allow_negative)

    def rule(
        self,
        *shares: Share,
        mode: SplitMode = SplitMode.IMMEDIATE,
        freeze_s: int = 0,
        commission_bps: int = 0,
        commission_amount: int = 0,
        product: str = "goods",
    ) -> None:
        self.splits.create_rule(
            merchant_id=self.merchant_id,
            product=product,
            currency="CNY",
            mode=mode,
            receivers=shares,
            freeze_s=freeze_s,
            commission_bps=commission_bps,
            commission_amount=commission_amount,
        )

    def pay(self, amount: int, product: str = "goods") -> Order:
        """A pay-in the bank answers `succeeded` at once."""
        self.alpha.then(succeeded())
        created = self.runtime.payments.create_payin(
            PayinCommand(
                merchant_id=self.merchant_id,
                product=product,
                amount=amount,
                currency="CNY",
                payer=Payer(card_number=CARD, name="张三"),
            ),
            idempotency_key=f"pay-{next(_keys)}",
        )
        order = self.runtime.payments.get(merchant_id=None, order_id=str(created.body["id"]))
        assert order.status == "succeeded", created.body
        return order

    def refund_answers(self, *, ok: bool = True) -> None:
        self.alpha.then(succeeded() if ok else declined("refund_declined"))

    def wallet(self, owner: str) -> Wallet:
        return self.runtime.wallets.get(self.merchant_id, owner, "CNY")

    def net(self, owner: str) -> int:
        """What the receiver has of its own: its wallet less what it owes."""
        wallet = self.wallet(owner)
        return wallet.balance - wallet.debt


def new_shop(runtime: Runtime, alpha: ScriptedChannel, *, fee_bps: int = 100) -> Shop:
    merchant, _secret = runtime.merchants.create(name=f"shop {next(_keys)}", fee_bps=fee_bps)
    return Shop(runtime, alpha, merchant.id)


@pytest.fixture
def shop(runtime: Runtime, alpha: ScriptedChannel) -> Shop:
    return new_shop(runtime, alpha)


def fund_merchant(ledger: Ledger, merchant_id: str, amount: int) -> None:
    """Credit the merchant's wallet from an outside account, as its other income would."""
    wallet = books.wallet_account(merchant_id, "CNY")
    ledger.create_accounts(
        [
            AccountRequest(id="acct_test_income_CNY", currency="CNY"),
            AccountRequest(
                id=wallet,
                currency="CNY",
                code=books.CODE_WALLET,
                owner_id=merchant_id,
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
            ),
        ]
    )
    [result] = ledger.create_transfers(
        [
            TransferRequest(
                id=f"tr_test_income_{merchant_id}_{next(_keys)}",
                debit_account_id="acct_test_income_CNY",
                credit_account_id=wallet,
                amount=amount,
                currency="CNY",
            )
        ]
    )
    assert result.result == "created", result
