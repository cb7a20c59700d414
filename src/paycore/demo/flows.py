"""The business flows on top of pay-ins: one scene each of split settlement, bank custody,
rent collection and rewards, on the demo's runtime and sandbox bank; then the day's
reconciliation against the bank's statement.

They run for a merchant of their own (a marketplace), funded by two pay-ins first, so the
day's merchants keep balances that follow from their orders alone. The bank is calmed
first (no declines, timeouts or lost callbacks) so each scene shows its flow rather than
the day's failure mix; the demo puts the mix back when it ends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
from rich.console import Console

from paycore.channels.model import Payer
from paycore.collection import demo as collection_demo
from paycore.custody import demo as custody_demo
from paycore.demo import reconciliation
from paycore.demo.stage import set_faults
from paycore.errors import Rejected
from paycore.merchants.model import MerchantStatus
from paycore.payments.model import OrderStatus
from paycore.payments.service import PayinCommand
from paycore.rewards import demo as rewards_demo
from paycore.runtime import Runtime
from paycore.split import demo as split_demo

Scene = Callable[[Runtime, Console, str], None]
SCENES: tuple[tuple[str, Scene], ...] = (
    ("split settlement (分账)", split_demo.show),
    ("bank custody (资金存管)", custody_demo.show),
    ("rent collection (代收)", collection_demo.show),
    ("rewards (现金奖励)", rewards_demo.show),
    ("reconciliation (对账)", reconciliation.show),
)
CALM_BANK = {
    "decline_rate": 0.0,
    "channel_decline_rate": 0.0,
    "timeout_rate": 0.0,
    "unknown_rate": 0.0,
    "duplicate_rate": 0.0,
    "reorder_rate": 0.0,
}


MARKETPLACE_ID = "mch_demo_market"
MARKETPLACE_NAME = "Riverside Homes Marketplace"
MARKETPLACE_FEE_BPS = 60
FUNDING_PAYINS = (300_000, 300_000)  # two pay-ins of 3,000.00 CNY
FUNDING_WAIT_S = 30.0
FUNDING_CARD = "6222020200112233446"  # Luhn-valid: the bank declines others


def show_flows(runtime: Runtime, console: Console, *, bank_url: str) -> list[str]:
    """Run every scene; returns what went wrong (a scene that fails does not stop the rest)."""
    with httpx.Client(base_url=bank_url, timeout=5.0) as admin:
        set_faults(admin, CALM_BANK)
    merchant_id = _marketplace(runtime)
    with console.status("funding the marketplace with two pay-ins ..."):
        problems = _fund(runtime, merchant_id)
    if problems:
        console.print(f"[red]the marketplace was not funded[/red]: {problems}")
        return problems
    for title, scene in SCENES:
        console.rule(title)
        try:
            scene(runtime, console, merchant_id)
        except Rejected as refused:
            problems.append(f"{title}: {refused.code}: {refused.detail}")
            console.print(f"[red]refused[/red] {refused.code}: {refused.detail}")
    return problems


def _marketplace(runtime: Runtime) -> str:
    found = runtime.merchants.get(MARKETPLACE_ID)
    if found is None:
        try:
            runtime.merchants.create(
                name=MARKETPLACE_NAME, fee_bps=MARKETPLACE_FEE_BPS, merchant_id=MARKETPLACE_ID
            )
        except Rejected as error:  # another demo created it a moment ago
            if error.code != "merchant_exists":
                raise
    elif found.status is not MerchantStatus.ACTIVE:
        runtime.merchants.set_status(MARKETPLACE_ID, MerchantStatus.ACTIVE)
    return MARKETPLACE_ID


def _fund(runtime: Runtime, merchant_id: str) -> list[str]:
    """Pay in through the bank and wait for the results; returns what did not succeed."""
    ids = []
    for amount in FUNDING_PAYINS:
        created = runtime.payments.create_payin(
            PayinCommand(
                merchant_id=merchant_id,
                product="purchase",
                amount=amount,
                currency="CNY",
                payer=Payer(card_number=FUNDING_CARD, name="Demo Buyer"),
                description="marketplace sales",
            ),
            idempotency_key=f"demo-flows-{uuid.uuid4()}",
        )
        ids.append(str(created.body["id"]))
    deadline = time.monotonic() + FUNDING_WAIT_S
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        for order_id in list(pending):
            order = runtime.payments.get(merchant_id=merchant_id, order_id=order_id)
            if order.status not in (OrderStatus.CREATED, OrderStatus.PROCESSING):
                pending.discard(order_id)
                if order.status is not OrderStatus.SUCCEEDED:
                    return [f"marketplace funding: {order_id} {order.status}"]
        time.sleep(0.2)
    return [f"marketplace funding: {order_id} unresolved" for order_id in sorted(pending)]
