"""Helpers for the payments HTTP tests: a Runtime whose channels are two scripted fake
banks (alpha first, beta as failover) and merchants with their API keys.

The test modules override the root `runtime` fixture with `scripted_runtime(...)`, so the
root `client` (admin key by default), `api_keys` and `merchants` fixtures use it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Route, RouteCandidate, Router
from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.payments.model import OrderKind
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.payments.fakes import SECRET, ScriptedChannel, callback_body

CARD = "6222021234567890123"
PHONE = "13812345678"
_keys = itertools.count(1)


@pytest.fixture(name="alpha")
def one_scripted_bank() -> ScriptedChannel:
    """The scripted bank `alpha`. With `runtime_with_one_scripted_bank`, a conftest that
    imports both gets `alpha` and a `runtime` that routes every product to it."""
    return ScriptedChannel("alpha")


@pytest.fixture(name="runtime")
def runtime_with_one_scripted_bank(
    database_url: str,
    engine: Engine,
    clock: ManualClock,
    ledger: Ledger,
    field_cipher: FieldCipher,
    alpha: ScriptedChannel,
) -> Iterator[Runtime]:
    """Every service on the test database, with the scripted bank `alpha` for any product."""
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[alpha],
    )


def scripted_runtime(
    *,
    database_url: str,
    engine: Engine,
    clock: ManualClock,
    ledger: Ledger,
    cipher: FieldCipher,
    channels: list[Any],
    settings: Settings | None = None,
    fees_bps: Mapping[str, int] | None = None,
) -> Iterator[Runtime]:
    """Every service on the test database; `channels` are routed in order for any product.
    `settings` for a test that needs more than the database (a custody file, a data dir);
    `fees_bps` the channels' contracted pay-in fees, for reconciliation."""
    registry = ChannelRegistry(clock=clock)
    for channel in channels:
        registry.add(channel)
    route = Route(
        product="*",
        candidates=[RouteCandidate(c.name, priority=i + 1) for i, c in enumerate(channels)],
    )
    runtime = Runtime.build(
        settings or Settings(database_url=database_url, expiry_interval_s=1.0),
        engine=engine,
        clock=clock,
        ledger=ledger,
        channels=Channels(
            registry, Router(registry, [route], rng=random.Random(7)), fees_bps=fees_bps or {}
        ),
        cipher=cipher,
        query_schedule_s=(60, 300),
    )
    yield runtime
    runtime.close()


@dataclass(frozen=True)
class Tenant:
    """A merchant and the clear form of one of its API keys."""

    id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        key = idempotency_key if idempotency_key is not None else f"idem-{next(_keys)}"
        return {**self.auth, "Idempotency-Key": key}


def new_tenant(runtime: Runtime, name: str, *, fee_bps: int = 0) -> Tenant:
    merchant, _secret = runtime.merchants.create(name=name, fee_bps=fee_bps)
    _key, clear = runtime.api_keys.issue(merchant_id=merchant.id, scopes=None)
    return Tenant(merchant.id, clear)


def payin_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product": "rent",
        "amount": 10_000,
        "currency": "CNY",
        "payer": {"card_number": CARD, "name": "张三丰", "phone": PHONE},
        "description": "March rent",
    }
    body.update(changes)
    return body


def payout_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": 5_000,
        "currency": "CNY",
        "beneficiary": {"account_number": "6217000010001234567", "name": "李四"},
    }
    body.update(changes)
    return body


def create_payin(
    client: TestClient, tenant: Tenant, idempotency_key: str | None = None, **changes: Any
) -> Response:
    return client.post(
        "/v1/payins", json=payin_body(**changes), headers=tenant.headers(idempotency_key)
    )


def notify(
    client: TestClient,
    order_id: str,
    *,
    status: str = "succeeded",
    operation: str = "payin",
    channel: str = "alpha",
    notification_id: str | None = None,
    signature: str = SECRET,
) -> Response:
    """A fake bank's callback for one order, signed like ScriptedChannel expects."""
    body = callback_body(
        notification_id=notification_id or f"n-{order_id}-{status}",
        operation=operation,
        reference=order_id,
        status=status,
    )
    return client.post(
        f"/v1/channels/{channel}/notifications",
        content=body,
        headers={"x-fake-signature": signature, "content-type": "application/json"},
    )


def paid_payin(client: TestClient, tenant: Tenant, amount: int = 10_000) -> str:
    """A pay-in the fake bank accepted and then confirmed by callback: its id."""
    created = create_payin(client, tenant, amount=amount)
    assert created.status_code == 201, created.text
    order_id: str = created.json()["id"]
    assert notify(client, order_id, channel=created.json()["channel"]).status_code == 200
    return order_id


def wallet(client: TestClient, tenant: Tenant, currency: str = "CNY") -> dict[str, Any]:
    """The merchant's wallet as GET /v1/balances shows it (zeros before the first credit)."""
    answer = client.get("/v1/balances", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    for row in answer.json()["data"]:
        if row["currency"] == currency:
            found: dict[str, Any] = row
            return found
    return {"currency": currency, "balance": 0, "held": 0, "available": 0}


def order_count(runtime: Runtime, kind: OrderKind = OrderKind.PAYIN) -> int:
    return len(runtime.payments.list_orders(merchant_id=None, kind=kind, limit=200))
