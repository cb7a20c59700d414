"""The custody part of `paycore demo`: a deposit paid into custody, matched to a deal and
split into commission and the seller's part; a second pay-in left unmatched for the
cut-off; the daily check of the bank's pool."""

from __future__ import annotations

import os
import random
import time

from rich.console import Console
from rich.table import Table

from paycore.channels.model import Payer
from paycore.custody.model import OWNER_METADATA_KEY, Receipt, RestTo, business_date_of
from paycore.demo.customers import card_number
from paycore.errors import Rejected
from paycore.money import format_minor
from paycore.payments.service import PayinCommand
from paycore.runtime import Runtime

LANDING_TIMEOUT_S = 30.0
"""Longest wait for the bank to confirm the demo's pay-ins (sandbox callbacks, janitor)."""
COMMISSION_BPS = 300


def show(runtime: Runtime, console: Console, merchant_id: str) -> None:
    custody = runtime.custody
    bank = next(b for b in custody.banks() if b.products)
    product = bank.products[0]
    tag = os.urandom(3).hex()  # owners new on every run, so runs never collide
    buyer, seller, agency, walk_in = (f"{r}-{tag}" for r in ("buyer", "seller", "agency", "walkin"))
    rng = random.Random(tag)
    deposit_id = _pay(runtime, merchant_id, product, buyer, 200_000, rng)
    walk_in_id = _pay(runtime, merchant_id, product, walk_in, 50_000, rng)
    deposit = _wait_for(runtime, merchant_id, deposit_id)
    waiting = _wait_for(runtime, merchant_id, walk_in_id)
    table = Table(title=f"custody at {bank.name} ({bank.mode.value}, cut-off {bank.cutoff})")
    for column in ("step", "owner", "amount", "outcome"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    if deposit is None:
        table.add_row("deposit pay-in", buyer, "", "not confirmed by the bank in time")
    else:
        table.add_row("deposit lands", buyer, format_minor(deposit.amount, bank.currency), "")
        _close(runtime, merchant_id, bank.name, deposit, (buyer, seller, agency), table)
    if waiting is not None:
        table.add_row(
            "unmatched pay-in",
            walk_in,
            format_minor(waiting.amount, bank.currency),
            f"refunded by the {bank.cutoff} cut-off ({bank.timezone}) unless matched",
        )
    today = business_date_of(bank, runtime.clock.now())
    check = custody.daily_check(bank.name, today)
    table.add_row(
        "daily check",
        "all sub-accounts",
        format_minor(check.subaccounts_total, bank.currency),
        f"pool {format_minor(check.pool_balance, bank.currency)}: "
        + ("ok" if check.ok else "DIFFERENCE"),
    )
    console.print(table)


def _close(
    runtime: Runtime,
    merchant_id: str,
    bank: str,
    deposit: Receipt,
    parties: tuple[str, str, str],
    table: Table,
) -> None:
    buyer, seller, agency = parties
    custody = runtime.custody
    deal = custody.create_deal(
        merchant_id,
        bank=bank,
        buyer=buyer,
        seller=seller,
        agency=agency,
        deposit_amount=deposit.amount,
    )
    custody.match(merchant_id, receipt_id=deposit.id, deal_id=deal.id)
    commission = deposit.amount * COMMISSION_BPS // 10_000
    try:
        custody.close_deal(
            merchant_id, deal_id=deal.id, commission=commission, rest_to=RestTo.SELLER
        )
    except Rejected as refused:
        table.add_row("deposit -> commission", agency, "", refused.code)
        return
    for owner, step in ((agency, "commission"), (seller, "rest to seller")):
        found = custody.get_subaccount(merchant_id, bank=bank, owner=owner)
        table.add_row(step, owner, format_minor(found.balance, found.currency), "deal closed")


def _pay(
    runtime: Runtime, merchant_id: str, product: str, owner: str, amount: int, rng: random.Random
) -> str:
    created = runtime.payments.create_payin(
        PayinCommand(
            merchant_id=merchant_id,
            product=product,
            amount=amount,
            currency="CNY",
            payer=Payer(card_number=card_number(rng), name="王五"),
            description="house deposit",
            metadata={OWNER_METADATA_KEY: owner},
        ),
        idempotency_key=f"demo-custody-{owner}",
    )
    return str(created.body["id"])


def _wait_for(runtime: Runtime, merchant_id: str, payin_id: str) -> Receipt | None:
    """The receipt once the bank confirmed the pay-in; None if it did not in time."""
    deadline = time.monotonic() + LANDING_TIMEOUT_S
    while True:
        order = runtime.payments.get(merchant_id=merchant_id, order_id=payin_id)
        if order.status.value in ("failed", "closed"):
            return None
        custody = runtime.custody
        if order.status.value == "succeeded":
            landed = custody.land(order)
            if landed is not None:
                return landed
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)  # a live bank answers by callback: poll gently
