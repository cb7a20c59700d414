"""`paycore wallets ...`: a merchant's users' wallets from a terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from paycore import limits
from paycore.commands import console, open_runtime, print_json
from paycore.money import format_minor
from paycore.wallets.views import entry_view, wallet_view

wallets_app = typer.Typer(
    help="Wallets of a merchant's users (tenants, receivers, recipients).", no_args_is_help=True
)
Merchant = Annotated[str, typer.Option("--merchant", help="merchant id (mch_...)")]
Owner = Annotated[str, typer.Argument(help="the merchant's reference for its user")]
Currency = Annotated[str, typer.Option(help="ISO 4217 code")]


@wallets_app.command("open")
def open_wallet(
    owner: Owner,
    merchant: Merchant,
    currency: Currency = "CNY",
    allow_negative: Annotated[bool, typer.Option(help="may go below zero")] = False,
) -> None:
    """Open a wallet (again with the same terms: no change)."""
    with open_runtime(channels=False) as rt:
        print_json(
            wallet_view(rt.wallets.open(merchant, owner, currency, allow_negative=allow_negative))
        )


@wallets_app.command("show")
def show_wallet(owner: Owner, merchant: Merchant, currency: Currency = "CNY") -> None:
    """Balance, held, available and debt of one wallet."""
    with open_runtime(channels=False) as rt:
        print_json(wallet_view(rt.wallets.get(merchant, owner, currency)))


@wallets_app.command("statement")
def statement(
    owner: Owner,
    merchant: Merchant,
    currency: Currency = "CNY",
    limit: Annotated[int, typer.Option(min=1, max=limits.ENTRIES_PAGE_MAX)] = 50,
    debts: Annotated[bool, typer.Option(help="the receivable (what the user owes)")] = False,
) -> None:
    """The wallet's journal entries, newest first."""
    with open_runtime(channels=False) as rt:
        wallet = rt.wallets.get(merchant, owner, currency)
        page = rt.wallets.statement(merchant, owner, currency, limit=limit, debts=debts)
    table = Table(title=f"{owner} {currency}: {format_minor(wallet.balance, currency)}")
    for column in ("when (UTC)", "transfer", "event", "side", "amount", "balance"):
        table.add_column(column, justify="right" if column in ("amount", "balance") else "left")
    for entry in page.entries:
        view = entry_view(entry)
        table.add_row(
            view["created_at"][:19],
            view["transfer_id"],
            view["event"],
            view["side"],
            format_minor(view["amount"], currency),
            format_minor(view["balance"], currency),
        )
    console.print(table)
    if wallet.debt:
        console.print(f"owes {format_minor(wallet.debt, currency)}, repaid from future income")


@wallets_app.command("top-up")
def top_up(
    owner: Owner,
    merchant: Merchant,
    amount: Annotated[int, typer.Option(min=1, help="minor units")],
    reference: Annotated[str, typer.Option(help="idempotency: the same reference pays once")],
    currency: Currency = "CNY",
) -> None:
    """Move money from the merchant's wallet to its user's."""
    with open_runtime(channels=False) as rt:
        transfer_id = rt.wallets.top_up(
            merchant, owner, currency, amount=amount, reference=reference
        )
        print_json(
            {
                "transfer_id": transfer_id,
                "wallet": wallet_view(rt.wallets.get(merchant, owner, currency)),
            }
        )
