"""What the demo shows at the end: orders, wallets, success rates, the ledger check, keys.

Personal data appears only masked, as the orders store it for display.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from paycore.demo.bill import BillScene
from paycore.demo.customers import MERCHANTS
from paycore.ledger.service import CheckReport
from paycore.money import format_minor
from paycore.payments.cli import rates_table
from paycore.payments.model import Order, OrderKind, OrderStatus, RateRow, is_resolved

SAMPLE_PAYINS = 5


@dataclass(frozen=True, slots=True)
class DemoReport:
    """Everything the demo found out; `render` prints it, tests check it."""

    orders: Sequence[Order]  # this run's orders, as they ended
    balances: Mapping[str, Sequence[Mapping[str, Any]]]  # merchant id -> wallets
    rates: Sequence[RateRow]
    ledger: CheckReport
    keys: Mapping[str, str]  # merchant id or "admin" -> API key in clear
    refused: Mapping[str, int]  # refused before reaching a channel, by code
    first_answers: Mapping[str, int]  # final | later | unknown: how the bank first answered
    errors: Sequence[str]
    elapsed_s: float
    server_url: str  # where the API (and its /docs) is, or will be with `make run`
    server_running: bool
    seed: int
    started_bank: bool
    bill: BillScene | None = None  # the last scene: the marketplace's bill of the month

    @property
    def unresolved(self) -> list[Order]:
        return [o for o in self.orders if not is_resolved(o.status)]


def render(console: Console, report: DemoReport) -> None:
    console.print(_orders_table(report.orders))
    console.print(_failures_table(report.orders, report.refused))
    console.print(_wallets_table(report.balances))
    console.print(rates_table(report.rates, title="success rates per product and channel (today)"))
    console.print(_sample_table(report.orders))
    _print_checks(console, report)
    _print_access(console, report)


def _orders_table(orders: Sequence[Order]) -> Table:
    table = Table(title="this run's orders by kind and status")
    for column in ("kind", "status", "orders", "amount"):
        table.add_column(column, justify="left" if column in ("kind", "status") else "right")
    for kind in OrderKind:
        of_kind = [o for o in orders if o.kind is kind]
        for status in OrderStatus:
            these = [o for o in of_kind if o.status is status]
            if these:
                amount = sum(o.amount for o in these)
                style = "red" if not is_resolved(status) else None
                table.add_row(
                    kind.value,
                    status.value,
                    str(len(these)),
                    format_minor(amount, these[0].currency),
                    style=style,
                )
        if of_kind:
            total = sum(o.amount for o in of_kind)
            table.add_row(
                kind.value,
                "all",
                str(len(of_kind)),
                format_minor(total, of_kind[0].currency),
                style="bold",
                end_section=True,
            )
    return table


def _failures_table(orders: Sequence[Order], refused: Mapping[str, int]) -> Table:
    table = Table(title="failures, by who caused them")
    for column in ("kind", "class", "code", "orders"):
        table.add_column(column, justify="right" if column == "orders" else "left")
    counts = Counter(
        (o.kind.value, o.failure.failure_class.value, o.failure.code)
        for o in orders
        if o.failure is not None and o.status is OrderStatus.FAILED
    )
    for (kind, failure_class, code), count in sorted(counts.items()):
        table.add_row(kind, failure_class, code, str(count))
    for code, count in sorted(refused.items()):
        table.add_row("any", "refused", code, str(count))
    return table


def _wallets_table(balances: Mapping[str, Sequence[Mapping[str, Any]]]) -> Table:
    table = Table(title="merchant wallets (all runs)")
    for column in ("merchant", "fee", "balance", "held", "available"):
        table.add_column(column, justify="left" if column == "merchant" else "right")
    for merchant in MERCHANTS:
        for wallet in balances.get(merchant.id, ()):
            currency = str(wallet["currency"])
            table.add_row(
                f"{merchant.name} ({merchant.id})",
                f"{merchant.fee_bps / 100:.2f}%",
                format_minor(int(wallet["balance"]), currency),
                format_minor(int(wallet["held"]), currency),
                format_minor(int(wallet["available"]), currency),
            )
    return table


def _sample_table(orders: Sequence[Order]) -> Table:
    table = Table(title="the last pay-ins (personal data masked, as stored for display)")
    for column in ("id", "merchant", "product", "amount", "status", "card", "payer", "phone"):
        table.add_column(column)
    payins = sorted((o for o in orders if o.kind is OrderKind.PAYIN), key=lambda o: o.id)
    for o in payins[-SAMPLE_PAYINS:]:
        party = o.party_masked
        table.add_row(
            o.id, o.merchant_id, o.product, format_minor(o.amount, o.currency), o.status.value,
            party.get("card_number", ""), party.get("name", ""), party.get("phone", ""),
        )  # fmt: skip
    return table


def _print_checks(console: Console, report: DemoReport) -> None:
    if report.ledger.ok:
        console.print(
            f"[green]ledger check: ok[/green] ({report.ledger.accounts_checked} accounts "
            "recomputed from the journal; debits equal credits)"
        )
    else:
        console.print(f"[red]ledger check FAILED[/red]: {'; '.join(report.ledger.problems[:5])}")
    answers = report.first_answers
    unknown = answers.get("unknown", 0)
    console.print(
        f"the bank answered {answers.get('final', 0)} orders at once and "
        f"{answers.get('later', 0)} later, by callback or the janitor's query"
        + (f"; {unknown} timed out with the result unknown" if unknown else "")
    )
    if report.unresolved:
        console.print(f"[red]{len(report.unresolved)} orders still wait for a result[/red]")
    else:
        console.print(f"[green]all {len(report.orders)} orders resolved[/green]")
    for error in report.errors[:5]:
        console.print(f"[red]error[/red] {error}")
    console.print(
        f"took {report.elapsed_s:.1f} s (seed {report.seed}: --seed {report.seed} plans the "
        "same pay-ins; the bank draws its own failures)"
    )


def _print_access(console: Console, report: DemoReport) -> None:
    console.print("[bold]API keys issued by this run[/bold] (shown once; stored hashed)")
    for owner, key in report.keys.items():
        console.print(f"  {owner:<18} {key}", soft_wrap=True)
    shop_key = report.keys.get(MERCHANTS[-1].id, "")
    console.print(
        f'curl -H "Authorization: Bearer {shop_key}" {report.server_url}/v1/payins',
        soft_wrap=True,
    )
    hint = "" if report.server_running else "  (after `make run`)"
    console.print(f"open {report.server_url}/docs{hint}", soft_wrap=True)
