"""The rewards scene of `paycore demo`, on a runtime with scripted channels."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.rewards import demo
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import new_tenant, paid_payin, scripted_runtime


@pytest.fixture
def runtime(
    database_url: str, engine: Engine, clock: ManualClock, ledger: Ledger, field_cipher: FieldCipher
) -> Iterator[Runtime]:
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[ScriptedChannel("alpha")],
    )


def test_the_demo_pays_the_valid_rows_once_and_reports_the_others(
    runtime: Runtime, client: TestClient
) -> None:
    shop = new_tenant(runtime, "Shop")
    paid_payin(client, shop, amount=10_000)
    out = io.StringIO()

    demo.show(runtime, Console(file=out, width=160), shop.id)

    text = out.getvalue()
    assert "unknown_recipient" in text and "bad_amount" in text and "over_row_limit" in text
    assert "paid 9.00 CNY in 2 runs" in text
    assert runtime.wallets.get(shop.id, "winner-1", "CNY").balance == 500
    assert runtime.rewards.get_budget(shop.id, demo.BUDGET_ID).balance == 3_000 - 900


def test_the_demo_says_so_when_the_merchant_has_nothing_yet(runtime: Runtime) -> None:
    shop = new_tenant(runtime, "Empty")
    out = io.StringIO()

    demo.show(runtime, Console(file=out, width=160), shop.id)

    assert "has no CNY" in out.getvalue()
