"""`paycore collection ...`: recurring collection plans (代收) from a terminal.

Exit codes: 0 done, 2 refused (the code and the reason on stderr). Commands that only
read or change a plan's status do not load the channels."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paycore.collection.model import (
    ATTEMPTS_DEFAULT,
    RETRY_INTERVAL_S_DEFAULT,
    Method,
    Plan,
    ScheduleLine,
    Terms,
    parse_due_day,
    parse_month,
)
from paycore.collection.views import plan_view, report_view
from paycore.commands import console, open_runtime, print_json
from paycore.money import format_minor

collection_app = typer.Typer(help="Recurring collection plans (代收).", no_args_is_help=True)
Merchant = Annotated[str, typer.Option("--merchant", help="merchant id (mch_...)")]
PlanId = Annotated[str, typer.Argument(help="plan id (cp_...)")]
AnyMerchant = Annotated[
    str | None, typer.Option("--merchant", help="only this merchant's (default: any)")
]
MONEY_COLUMNS = ("amount", "fee", "landlord")


@collection_app.command("create")
def create(
    merchant: Merchant,
    tenant: Annotated[str, typer.Option(help="the merchant's reference for the tenant")],
    landlord: Annotated[str, typer.Option(help="the merchant's reference for the landlord")],
    amount: Annotated[int, typer.Option(help="minor units per month")],
    start_month: Annotated[str, typer.Option(help="YYYY-MM of the first period")],
    due_day: Annotated[str, typer.Option(help="1-28 or 'last'")] = "1",
    periods: Annotated[int | None, typer.Option(help="how many months; none: open-ended")] = None,
    method: Annotated[Method, typer.Option(help="wallet or channel")] = Method.WALLET,
    card: Annotated[str | None, typer.Option(help="tenant's card (channel method)")] = None,
    fee_bps: Annotated[int | None, typer.Option(help="service fee in basis points")] = None,
    fee_fixed: Annotated[int | None, typer.Option(help="service fee in minor units")] = None,
    max_attempts: int = ATTEMPTS_DEFAULT,
    retry_interval_s: int = RETRY_INTERVAL_S_DEFAULT,
    currency: str = "CNY",
    reference: Annotated[str | None, typer.Option(help="idempotency: one plan per it")] = None,
) -> None:
    """Create a plan; it falls due monthly at 00:00 Asia/Shanghai on its day."""
    with open_runtime(channels=False) as rt:
        terms = Terms(
            tenant=tenant,
            landlord=landlord,
            amount=amount,
            currency=currency,
            due_day=parse_due_day(due_day),
            start_month=parse_month(start_month),
            periods=periods,
            method=method,
            fee_bps=fee_bps,
            fee_fixed=fee_fixed,
            max_attempts=max_attempts,
            retry_interval_s=retry_interval_s,
        )
        plan = rt.collection.create(merchant, terms, card_number=card, reference=reference)
        print_json(plan_view(plan))


@collection_app.command("list")
def list_plans(
    merchant: AnyMerchant = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Plans (of one merchant, or all)."""
    with open_runtime(channels=False) as rt:
        plans = rt.collection.list_plans(merchant, limit=limit)
    table = Table(title="collection plans")
    for column in ("id", "merchant", "tenant → landlord", "amount", "method", "status", "next due"):
        table.add_column(column)
    for plan in plans:
        view = plan_view(plan)
        table.add_row(
            plan.id,
            plan.merchant_id,
            f"{plan.terms.tenant} → {plan.terms.landlord}",
            format_minor(plan.terms.amount, plan.terms.currency),
            view["method"],
            view["status"],
            (view["next_due_at"] or "-")[:16],
        )
    console.print(table)


def schedule_table(plan: Plan, lines: list[ScheduleLine]) -> Table:
    currency = plan.terms.currency
    title = (
        f"{plan.id} ({plan.status.value}): {plan.terms.tenant} → {plan.terms.landlord}, "
        f"{plan.terms.method.value}"
    )
    table = Table(title=title)
    for column in ("#", "due (Shanghai)", "amount", "fee", "landlord", "status", "attempts"):
        table.add_column(
            column, justify="right" if column in ("amount", "fee", "landlord") else "left"
        )
    for line in lines:
        tries = ", ".join(
            f"{a.attempt_no}:{a.status.value}" + (f" ({a.failure_code})" if a.failure_code else "")
            for a in line.attempts
        )
        table.add_row(
            str(line.period_no),
            line.due_date.isoformat(),
            format_minor(line.amount, currency),
            format_minor(line.fee, currency),
            format_minor(line.landlord_net, currency),
            line.status.value,
            tries or "-",
        )
    return table


def print_schedule(out: Console, plan: Plan, lines: list[ScheduleLine]) -> None:
    out.print(schedule_table(plan, lines))
    if plan.card_masked:
        out.print(f"card {plan.card_masked}")


@collection_app.command("show")
def show(
    plan_id: PlanId, merchant: Annotated[str | None, typer.Option("--merchant")] = None
) -> None:
    """The plan and its schedule: each month, its status and its attempts."""
    with open_runtime(channels=False) as rt:
        plan = rt.collection.get(merchant, plan_id)
        print_schedule(console, plan, rt.collection.schedule(plan))


def _act(action: str, plan_id: str, merchant: str | None) -> None:
    with open_runtime(channels=False) as rt:
        act = {"pause": rt.collection.pause, "resume": rt.collection.resume}.get(
            action, rt.collection.cancel
        )
        print_json(plan_view(act(merchant, plan_id)))


@collection_app.command("pause")
def pause(
    plan_id: PlanId, merchant: Annotated[str | None, typer.Option("--merchant")] = None
) -> None:
    """Stop collecting; months that fall due while paused are skipped."""
    _act("pause", plan_id, merchant)


@collection_app.command("resume")
def resume(
    plan_id: PlanId, merchant: Annotated[str | None, typer.Option("--merchant")] = None
) -> None:
    """Collect again from the next month that falls due."""
    _act("resume", plan_id, merchant)


@collection_app.command("cancel")
def cancel(
    plan_id: PlanId, merchant: Annotated[str | None, typer.Option("--merchant")] = None
) -> None:
    """Stop for good (a pay-in already at the bank still finishes)."""
    _act("cancel", plan_id, merchant)


@collection_app.command("run-due")
def run_due() -> None:
    """Collect what is due now, retry what failed, resume what a crash left open."""
    with open_runtime(channels=True) as rt:
        print_json(report_view(rt.collection.run_due()))
