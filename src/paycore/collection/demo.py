"""`paycore demo`'s rent collection: one plan, three months, the tenant's wallet short in
the second month and paid on the retry a day later.

The demo runs the plan ahead of the clock (`run_due(now=<a due date>, plan_id=...)`), so
it shows three months in a second without touching any other plan."""

from __future__ import annotations

import os
from datetime import timedelta

from rich.console import Console

from paycore.collection.cli import schedule_table
from paycore.collection.model import Method, Terms, add_months, due_at, local_date
from paycore.money import format_minor
from paycore.runtime import Runtime

RENT = 50_000  # 500.00 CNY
FEE_BPS = 300


def show(runtime: Runtime, console: Console, merchant_id: str) -> None:
    suffix = os.urandom(3).hex()
    tenant, landlord = f"demo-tenant-{suffix}", f"demo-landlord-{suffix}"
    collections = runtime.collection
    next_month = add_months(local_date(runtime.clock.now()).replace(day=1), 1)
    terms = Terms(
        tenant=tenant,
        landlord=landlord,
        amount=RENT,
        currency="CNY",
        due_day="1",
        start_month=next_month,
        periods=3,
        method=Method.WALLET,
        fee_bps=FEE_BPS,
    )
    plan = collections.create(merchant_id, terms, reference=f"demo-rent-{suffix}")
    wallets = runtime.wallets
    wallets.top_up(merchant_id, tenant, "CNY", amount=RENT, reference=f"demo-rent-{suffix}-1")
    first, second, third = (due_at(terms, n) for n in (1, 2, 3))
    if first is None or second is None or third is None:  # pragma: no cover - 3 periods
        return
    collections.run_due(first, plan_id=plan.id)  # month 1: paid
    collections.run_due(second, plan_id=plan.id)  # month 2: the wallet is empty
    wallets.top_up(merchant_id, tenant, "CNY", amount=2 * RENT, reference=f"demo-rent-{suffix}-2")
    collections.run_due(second + timedelta(days=1), plan_id=plan.id)  # the retry pays
    collections.run_due(third, plan_id=plan.id)  # month 3: paid, the plan completes
    plan = collections.get(merchant_id, plan.id)
    console.print(schedule_table(plan, collections.schedule(plan)))
    landlord_wallet = wallets.get(merchant_id, landlord, "CNY")
    console.print(
        f"rent collection: landlord received {format_minor(landlord_wallet.balance, 'CNY')}, "
        f"plan {plan.status.value}"
    )
