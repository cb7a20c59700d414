"""A runtime whose channel is one scripted fake bank (alpha), an agency merchant with
money in its wallet, and helpers to write plans and move the clock in Shanghai time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from paycore.collection.model import Method, Plan, Terms, parse_month
from paycore.notifications.store import events
from paycore.payments import bookkeeping as books
from paycore.runtime import Runtime
from paycore.wallets.model import wallet_account
from tests.payments.conftest import fund_merchant
from tests.payments.http_conftest import (
    Tenant,
    new_tenant,
    one_scripted_bank,
    runtime_with_one_scripted_bank,
)

# The one-bank fixtures, under the names this slice's tests (and consistency's) use.
alpha = one_scripted_bank
runtime = runtime_with_one_scripted_bank

SHANGHAI = ZoneInfo("Asia/Shanghai")
CARD = "6222021234567890123"
_references = itertools.count(1)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant given as Shanghai wall-clock time, in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def terms(**changes: Any) -> Terms:
    values: dict[str, Any] = {
        "tenant": "tenant1",
        "landlord": "landlord1",
        "amount": 300_000,
        "currency": "CNY",
        "due_day": "1",
        "start_month": parse_month("2026-02"),
        "periods": 3,
        "method": Method.WALLET,
        "fee_bps": 500,
    }
    values.update(changes)
    return Terms(**values)


@pytest.fixture
def agency(runtime: Runtime) -> Tenant:
    """The merchant (a rental agency, no platform fee) with 1,000,000 fen to top up from."""
    tenant = new_tenant(runtime, "Agency")
    fund_merchant(runtime.ledger, tenant.id, 1_000_000)
    return tenant


def top_up(runtime: Runtime, merchant_id: str, owner: str, amount: int) -> None:
    runtime.wallets.top_up(
        merchant_id, owner, "CNY", amount=amount, reference=f"top-{next(_references)}"
    )


def balance(runtime: Runtime, merchant_id: str, owner: str | None) -> int:
    """A user's wallet balance, or the merchant's own wallet with owner=None."""
    account_id = (
        books.wallet_account(merchant_id, "CNY")
        if owner is None
        else wallet_account(merchant_id, owner, "CNY")
    )
    account = runtime.ledger.get_account(account_id)
    return 0 if account is None else account.credits_posted - account.debits_posted


def event_types(engine: Engine, object_prefix: str = "") -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.type, events.c.object_id).order_by(events.c.id))
        return [r.type for r in rows if r.object_id.startswith(object_prefix)]


def statuses(runtime: Runtime, plan: Plan) -> list[str]:
    return [line.status.value for line in runtime.collection.schedule(plan)]
