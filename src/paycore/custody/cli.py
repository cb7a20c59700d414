"""`paycore custody ...`: custody banks, sub-accounts, receipts, deals, cut-offs, checks."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from paycore.clock import date_problem
from paycore.commands import console, open_runtime, print_json, refuse
from paycore.custody.model import CutoffRun, ReceiptStatus, RestTo, Role
from paycore.custody.views import (
    bank_view,
    check_view,
    deal_view,
    receipt_view,
    run_view,
    subaccount_view,
)
from paycore.money import format_minor

custody_app = typer.Typer(help="Bank custody (资金存管).", no_args_is_help=True)
Merchant = Annotated[str, typer.Option("--merchant", help="merchant id (mch_...)")]
Bank = Annotated[str, typer.Option(help="custody bank name")]
DateArg = Annotated[str, typer.Argument(help="business date, YYYY-MM-DD")]


def _date(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise refuse("invalid_date", f"{text!r} is not YYYY-MM-DD") from None
    problem = date_problem(day)
    if problem is not None:
        raise refuse("date_out_of_range", problem)
    return day


@custody_app.command("banks")
def banks() -> None:
    """The configured custody banks."""
    with open_runtime(channels=False) as rt:
        print_json({"data": [bank_view(b) for b in rt.custody.banks()]})


@custody_app.command("open-subaccount")
def open_subaccount(
    owner: Annotated[str, typer.Argument(help="the merchant's reference for the owner")],
    merchant: Merchant,
    role: Annotated[Role, typer.Option(help="buyer, seller or agency")],
    bank: Bank = "sandbox_custody",
    virtual_account: Annotated[str | None, typer.Option(help="the bank's number")] = None,
) -> None:
    """Open (or show) an owner's sub-account and its virtual account number."""
    with open_runtime(channels=False) as rt:
        found = rt.custody.open_subaccount(
            merchant, bank=bank, owner=owner, role=role, virtual_account=virtual_account
        )
        print_json(subaccount_view(found))


@custody_app.command("receipts")
def receipts(
    merchant: Annotated[str | None, typer.Option("--merchant", help="merchant id")] = None,
    bank: Annotated[str | None, typer.Option(help="custody bank name")] = None,
    business_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    status: Annotated[ReceiptStatus | None, typer.Option(help="only this status")] = None,
) -> None:
    """Pay-ins received into custody, oldest first."""
    day = _date(business_date) if business_date else None
    with open_runtime(channels=False) as rt:
        found = rt.custody.receipts(merchant, bank=bank, business_date=day, status=status)
    table = Table(title="custody receipts")
    for column in ("receipt", "owner", "amount", "received (UTC)", "day", "status", "deal"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for r in found:
        view = receipt_view(r)
        table.add_row(
            r.id,
            r.owner,
            format_minor(r.amount, r.currency),
            view["received_at"][:23],
            view["business_date"],
            r.status.value,
            r.deal_id or "",
        )
    console.print(table)


@custody_app.command("deal-create")
def deal_create(
    merchant: Merchant,
    buyer: Annotated[str, typer.Option(help="owner paying the deposit")],
    seller: Annotated[str, typer.Option(help="owner receiving the rest")],
    agency: Annotated[str, typer.Option(help="owner receiving the commission")],
    deposit: Annotated[int, typer.Option(help="deposit in minor units")],
    bank: Bank = "sandbox_custody",
) -> None:
    """Create a deal whose deposit the buyer pays into custody."""
    with open_runtime(channels=False) as rt:
        deal = rt.custody.create_deal(
            merchant, bank=bank, buyer=buyer, seller=seller, agency=agency, deposit_amount=deposit
        )
        print_json(deal_view(deal))


@custody_app.command("match")
def match(
    deal_id: Annotated[str, typer.Argument(help="deal_...")],
    receipt_id: Annotated[str, typer.Argument(help="the receipt (its pay-in id)")],
) -> None:
    """Tie a receipt to the deal its payer is the buyer of."""
    with open_runtime(channels=False) as rt:
        print_json(receipt_view(rt.custody.match(None, receipt_id=receipt_id, deal_id=deal_id)))


@custody_app.command("close-deal")
def close_deal(
    deal_id: Annotated[str, typer.Argument(help="deal_...")],
    commission: Annotated[int, typer.Option(help="minor units to the agency")],
    rest_to: Annotated[RestTo, typer.Option(help="seller, or buyer to leave it with them")] = (
        RestTo.SELLER
    ),
) -> None:
    """定转佣: the deposit to the agency's commission and the rest, all or nothing."""
    with open_runtime(channels=False) as rt:
        deal = rt.custody.close_deal(None, deal_id=deal_id, commission=commission, rest_to=rest_to)
        print_json(deal_view(deal))


@custody_app.command("cutoff")
def cutoff(
    business_date: DateArg,
    bank: Bank = "sandbox_custody",
    show: Annotated[bool, typer.Option(help="only show the report of an earlier run")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Refund the day's unmatched receipts to their payers (safe to run again)."""
    day = _date(business_date)
    with open_runtime(channels=not show) as rt:
        run = rt.custody.cutoff_report(bank, day) if show else rt.custody.run_cutoff(bank, day)
    if as_json:
        print_json(run_view(run))
    else:
        print_run(run)
    if not run.is_complete:  # a line still on its way: a script must not take it as done
        console.print(
            f"cut-off {run.bank} {run.business_date} is {run.status} with lines still open; "
            "run it again later (the scheduled worker keeps driving it)"
        )
        raise typer.Exit(1)


def print_run(run: CutoffRun) -> None:
    table = Table(
        title=f"cut-off {run.bank} {run.business_date}: {run.status}, {run.refunds} refunds"
    )
    for column in ("receipt", "payer", "amount", "received (UTC)", "refund", "outcome"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for line in run.lines:
        table.add_row(
            line.receipt_id,
            line.owner,
            format_minor(line.amount, line.currency),
            line.received_at.isoformat()[:23],
            line.refund_id or "",
            line.outcome,
        )
    console.print(table)
    if run.report_path:
        console.print(f"report: {run.report_path}")


@custody_app.command("check")
def check(
    business_date: DateArg,
    bank: Bank = "sandbox_custody",
    bank_balance: Annotated[int | None, typer.Option(help="the bank's pooled balance")] = None,
) -> None:
    """Prove the sub-accounts sum to the pooled balance; exit 1 when they do not."""
    day = _date(business_date)
    with open_runtime(channels=False) as rt:
        found = rt.custody.daily_check(bank, day, bank_balance=bank_balance)
    print_json(check_view(found))
    if not found.ok:
        raise typer.Exit(1)
