"""`paycore demo`'s split settlement: a delayed split of one pay-in, confirmed in part,
then a refund after split that claws the parts back."""

from __future__ import annotations

import os
import time

from rich.console import Console
from rich.table import Table

from paycore.channels.model import Payer
from paycore.money import format_minor
from paycore.payments.model import OrderKind, OrderStatus
from paycore.payments.service import PayinCommand
from paycore.runtime import Runtime
from paycore.split.model import Share, Split, SplitMode
from paycore.split.service import Splits

PAYIN = 20_000  # 200.00 CNY
REFUND = 10_000
WAIT_S = 20.0
"""Longest wait for the sandbox bank's answer to the demo's pay-in and refund."""
DEMO_CARD = "6222021234567890128"  # Luhn-valid: the bank declines others


def show(runtime: Runtime, console: Console, merchant_id: str) -> None:
    suffix = os.urandom(3).hex()
    supplier, courier = f"demo-supplier-{suffix}", f"demo-courier-{suffix}"
    splits = runtime.split
    for owner in (supplier, courier):
        runtime.wallets.open(merchant_id, owner, "CNY")
    rule = splits.create_rule(
        merchant_id=merchant_id,
        product="goods",
        currency="CNY",
        mode=SplitMode.DELAYED,
        freeze_s=3_600,
        receivers=[Share(supplier, bps=6_000), Share(courier, amount=1_500)],
        commission_bps=200,
    )
    try:
        split = _paid_and_split(runtime, merchant_id, suffix)
    finally:
        # The demo's rule must not split the merchant's later pay-ins.
        splits.retire_rule(merchant_id=merchant_id, rule_id=rule.id)
    if split is None:
        console.print("split: the sandbox bank did not confirm the demo pay-in in time")
        return
    splits.confirm(merchant_id=merchant_id, split_id=split.id, parts={supplier: 10_000})
    splits.confirm(merchant_id=merchant_id, split_id=split.id)
    refund = splits.refund(
        merchant_id=merchant_id,
        split_id=split.id,
        amount=REFUND,
        idempotency_key=f"demo-split-refund-{suffix}",
    )
    deadline = time.monotonic() + WAIT_S
    while refund["status"] == "refunding" and time.monotonic() < deadline:
        time.sleep(0.2)
        refund = splits.resume_refund(refund["id"])
    console.print(split_table(splits, split.id, runtime, title_suffix=f"refund {refund['status']}"))


def _paid_and_split(runtime: Runtime, merchant_id: str, suffix: str) -> Split | None:
    created = runtime.payments.create_payin(
        PayinCommand(
            merchant_id=merchant_id,
            product="goods",
            amount=PAYIN,
            currency="CNY",
            payer=Payer(card_number=DEMO_CARD, name="Demo Buyer"),
            description="split demo",
        ),
        idempotency_key=f"demo-split-{suffix}",
    )
    payin_id = str(created.body.get("id"))
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        order = runtime.payments.get(merchant_id=None, order_id=payin_id, kind=OrderKind.PAYIN)
        if order.status is OrderStatus.SUCCEEDED:
            return runtime.split.split_payin(order)
        if order.status not in (OrderStatus.CREATED, OrderStatus.PROCESSING):
            return None
        time.sleep(0.2)
    return None


def split_table(splits: Splits, split_id: str, runtime: Runtime, *, title_suffix: str) -> Table:
    split = splits.get(merchant_id=None, split_id=split_id)
    table = Table(title=f"split of {split.payin_id}: {split.status.value}, {title_suffix}")
    for column in ("receiver", "rule's part", "received", "clawed back", "wallet", "owes"):
        table.add_column(column, justify="left" if column == "receiver" else "right")

    def money(amount: int) -> str:
        return format_minor(amount, split.currency)

    for leg in split.legs:
        wallet = (
            runtime.wallets.get(split.merchant_id, leg.owner, split.currency) if leg.owner else None
        )
        table.add_row(
            leg.owner or "platform commission",
            money(leg.amount),
            money(leg.received),
            money(leg.clawed),
            money(wallet.balance) if wallet else "",
            money(wallet.debt) if wallet else "",
        )
    return table
