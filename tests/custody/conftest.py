"""A Runtime with one scripted bank channel (alpha) and two custody banks: the built-in
style `sandbox_custody` (full, product house_deposit) and `pool_bank` (light, product
rent_deposit). The clock starts at 23:00 Asia/Shanghai on 2026-03-10, an hour before
the day's cut-off; report files go to the test's own folder."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from paycore.channels.model import Payer
from paycore.clock import ManualClock
from paycore.custody.model import Receipt
from paycore.ledger.service import Ledger
from paycore.payments.service import PayinCommand
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.payments.fakes import ScriptedChannel, succeeded
from tests.payments.http_conftest import scripted_runtime

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 10, 23, 0, tzinfo=SHANGHAI)
CARD = "6222021234567890123"
BANKS = {
    "banks": [
        {"name": "sandbox_custody", "products": ["house_deposit"], "currency": "CNY"},
        {
            "name": "pool_bank",
            "products": ["rent_deposit"],
            "currency": "CNY",
            "mode": "light",
            "timezone": "Asia/Shanghai",
            "cutoff": "24:00",
        },
    ]
}
_keys = itertools.count(1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START.astimezone(UTC))


@pytest.fixture
def alpha() -> ScriptedChannel:
    return ScriptedChannel("alpha")


@pytest.fixture
def runtime(
    database_url: str,
    engine: Engine,
    clock: ManualClock,
    ledger: Ledger,
    field_cipher: FieldCipher,
    alpha: ScriptedChannel,
    tmp_path: Path,
) -> Iterator[Runtime]:
    banks_file = tmp_path / "custody.json"
    banks_file.write_text(json.dumps(BANKS), encoding="utf-8")
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[alpha],
        settings=Settings(
            database_url=database_url,
            expiry_interval_s=1.0,
            data_dir=str(tmp_path / "var"),
            custody_file=str(banks_file),
        ),
    )


@dataclass
class Desk:
    """A merchant running custody deals on the runtime, and helpers to pay into custody."""

    runtime: Runtime
    alpha: ScriptedChannel
    clock: ManualClock
    merchant_id: str

    def pay(
        self, owner: str, amount: int, *, product: str = "house_deposit", ok: bool = True
    ) -> str:
        """A pay-in the scripted bank confirms at once (or leaves processing)."""
        if ok:
            self.alpha.then(succeeded())
        created = self.runtime.payments.create_payin(
            PayinCommand(
                merchant_id=self.merchant_id,
                product=product,
                amount=amount,
                currency="CNY",
                payer=Payer(card_number=CARD, name="张三"),
                metadata={"custody_owner": owner},
            ),
            idempotency_key=f"custody-test-{next(_keys)}",
        )
        return str(created.body["id"])

    def move_to(self, at: datetime) -> None:
        self.clock.advance((at - self.clock.now()).total_seconds())

    def receipt(self, payin_id: str) -> Receipt:
        return self.runtime.custody.get_receipt(self.merchant_id, payin_id)

    def balance(self, owner: str, bank: str = "sandbox_custody") -> int:
        found = self.runtime.custody.get_subaccount(self.merchant_id, bank=bank, owner=owner)
        return found.balance


@pytest.fixture
def desk(runtime: Runtime, alpha: ScriptedChannel, clock: ManualClock) -> Desk:
    merchant, _secret = runtime.merchants.create(name="House Agency", fee_bps=0)
    return Desk(runtime, alpha, clock, merchant.id)
