"""A Payments service on the test database, with two scripted channels: alpha first, beta
as failover. Merchants m1 (fee 1%) and m2 (no fee) exist; m_off is suspended."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Route, RouteCandidate, Router
from paycore.clock import ManualClock
from paycore.ledger.model import AccountFlags, TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.notifications.service import Outbox
from paycore.payments import bookkeeping as books
from paycore.payments.janitor import Janitor
from paycore.payments.service import Payments
from paycore.payments.settle import PaymentsContext
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import scripted_runtime

FEES = {"m1": 100, "m2": 0}


@dataclass
class World:
    payments: Payments
    janitor: Janitor
    alpha: ScriptedChannel
    beta: ScriptedChannel
    registry: ChannelRegistry
    ledger: Ledger
    clock: ManualClock
    engine: Engine

    def wallet(self, merchant_id: str, currency: str = "CNY") -> tuple[int, int]:
        """(balance, available) of a merchant wallet."""
        account = self.ledger.get_account(books.wallet_account(merchant_id, currency))
        if account is None:
            return 0, 0
        return account.credits_posted - account.debits_posted, account.available

    def fund(self, merchant_id: str, amount: int, currency: str = "CNY") -> None:
        fund_merchant(self.ledger, merchant_id, amount, currency)


def fund_merchant(ledger: Ledger, merchant_id: str, amount: int, currency: str = "CNY") -> None:
    """Credit a merchant wallet from an equity account, as earlier pay-ins would have."""
    wallet = books.wallet_account(merchant_id, currency)
    ledger.create_accounts(
        [
            AccountRequest(id="acct_test_equity_" + currency, currency=currency),
            AccountRequest(
                id=wallet,
                currency=currency,
                code=books.CODE_WALLET,
                owner_id=merchant_id,
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
            ),
        ]
    )
    [result] = ledger.create_transfers(
        [
            TransferRequest(
                id=f"tr_fund_{os.urandom(6).hex()}",
                debit_account_id="acct_test_equity_" + currency,
                credit_account_id=wallet,
                amount=amount,
                currency=currency,
            )
        ]
    )
    assert result.result == "created"


CIPHER = FieldCipher({"k1": b"\x01" * 32}, "k1")


def build_context(
    engine: Engine, ledger: Ledger, clock: ManualClock, registry: ChannelRegistry
) -> PaymentsContext:
    router = Router(
        registry,
        [
            Route(
                product="*",
                candidates=[
                    RouteCandidate("alpha", priority=1),
                    RouteCandidate("beta", priority=2),
                ],
            )
        ],
        rng=random.Random(7),
    )
    return PaymentsContext(
        engine=engine,
        ledger=ledger,
        channels=registry,
        router=router,
        events=Outbox(CIPHER),
        clock=clock,
        public_url="http://paycore.test",
        cipher=CIPHER,
        query_schedule_s=lambda _channel: (60, 300),
        request_hash_key=b"k" * 32,
    )


@pytest.fixture
def world(engine: Engine, ledger: Ledger, clock: ManualClock) -> Iterator[World]:
    registry = ChannelRegistry(clock=clock)
    alpha, beta = ScriptedChannel("alpha"), ScriptedChannel("beta")
    registry.add(alpha)
    registry.add(beta)
    ctx = build_context(engine, ledger, clock, registry)
    payments = Payments(ctx, cipher=CIPHER, merchant_fee_bps=FEES.get)
    yield World(
        payments, Janitor(ctx, payments.settler), alpha, beta, registry, ledger, clock, engine
    )


@pytest.fixture
def alpha() -> ScriptedChannel:
    return ScriptedChannel("alpha")


@pytest.fixture
def beta() -> ScriptedChannel:
    return ScriptedChannel("beta")


@pytest.fixture
def runtime(
    database_url: str,
    engine: Engine,
    clock: ManualClock,
    ledger: Ledger,
    field_cipher: FieldCipher,
    alpha: ScriptedChannel,
    beta: ScriptedChannel,
) -> Iterator[Runtime]:
    """The app's runtime with alpha first and beta as failover (the HTTP tests' `client`)."""
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[alpha, beta],
    )
