"""`paycore payins|payouts|refunds|payments ...`: orders and success rates from a terminal."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from paycore.channels.model import BankAccount, Payer
from paycore.errors import Rejected
from paycore.money import format_minor
from paycore.payments.model import OrderKind, OrderStatus
from paycore.payments.service import PayinCommand, PayoutCommand, RefundCommand
from paycore.payments.views import order_view

if TYPE_CHECKING:
    from paycore.runtime import Runtime

payins_app = typer.Typer(
    help="Pay-ins (入金): money from a payer to a merchant.", no_args_is_help=True
)
payouts_app = typer.Typer(
    help="Payouts (出金) from a merchant wallet to a bank account.", no_args_is_help=True
)
refunds_app = typer.Typer(help="Refunds of pay-ins, partial or full.", no_args_is_help=True)
payments_app = typer.Typer(
    help="Success rates, the janitor, unresolved orders.", no_args_is_help=True
)

console = Console()
Merchant = Annotated[str, typer.Option("--merchant", help="merchant id (mch_...)")]
Key = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="reuse it when retrying; default: a new one"),
]


@contextmanager
def _runtime() -> Iterator[Runtime]:
    from paycore.runtime import Runtime

    runtime = Runtime.build()
    try:
        yield runtime
    except Rejected as error:
        console.print(f"[red]refused[/red] {error.code}: {error.detail}")
        raise typer.Exit(1) from None
    finally:
        runtime.close()


def _print(view: dict[str, Any]) -> None:
    console.print_json(json.dumps(view, ensure_ascii=False))


@payins_app.command("create")
def payin_create(
    merchant: Merchant,
    amount: Annotated[int, typer.Option(help="minor units, e.g. 10000 = 100.00 CNY")],
    card: Annotated[str, typer.Option(help="payer's card number (stored encrypted)")],
    currency: str = "CNY",
    product: str = "purchase",
    description: str = "",
    name: str = "",
    phone: str = "",
    idempotency_key: Key = None,
) -> None:
    """Create a pay-in and call the channel."""
    command = PayinCommand(
        merchant_id=merchant,
        product=product,
        amount=amount,
        currency=currency,
        payer=Payer(card_number=card, name=name, phone=phone),
        description=description,
    )
    with _runtime() as runtime:
        created = runtime.payments.create_payin(
            command, idempotency_key=idempotency_key or str(uuid.uuid4())
        )
        _print(dict(created.body))


@payouts_app.command("create")
def payout_create(
    merchant: Merchant,
    amount: Annotated[int, typer.Option(help="minor units")],
    account: Annotated[str, typer.Option(help="beneficiary account number")],
    name: Annotated[str, typer.Option(help="beneficiary name")],
    currency: str = "CNY",
    bank_code: str = "",
    description: str = "",
    idempotency_key: Key = None,
) -> None:
    """Pay out from the merchant's wallet; the money is held until the bank answers."""
    command = PayoutCommand(
        merchant_id=merchant,
        amount=amount,
        currency=currency,
        beneficiary=BankAccount(account_number=account, name=name, bank_code=bank_code),
        description=description,
    )
    with _runtime() as runtime:
        created = runtime.payments.create_payout(
            command, idempotency_key=idempotency_key or str(uuid.uuid4())
        )
        _print(dict(created.body))


@refunds_app.command("create")
def refund_create(
    merchant: Merchant,
    payin: Annotated[str, typer.Option(help="the pay-in to refund (pay_...)")],
    amount: Annotated[int, typer.Option(help="minor units, at most what is still refundable")],
    reason: str = "",
    idempotency_key: Key = None,
) -> None:
    """Refund part or all of a paid pay-in through its channel."""
    command = RefundCommand(merchant_id=merchant, payin_id=payin, amount=amount, reason=reason)
    with _runtime() as runtime:
        created = runtime.payments.create_refund(
            command, idempotency_key=idempotency_key or str(uuid.uuid4())
        )
        _print(dict(created.body))


def _show(order_id: str) -> None:
    with _runtime() as runtime:
        order = runtime.payments.get(merchant_id=None, order_id=order_id)
        view = order_view(order)
        view["attempts"] = [
            {k: str(v) for k, v in a.items() if v is not None}
            for a in runtime.payments.attempts(order.id)
        ]
        _print(view)


def _list(kind: OrderKind, merchant: str | None, status: str | None, limit: int) -> None:
    with _runtime() as runtime:
        orders = runtime.payments.list_orders(
            merchant_id=merchant,
            kind=kind,
            limit=limit,
            status=OrderStatus(status) if status else None,
        )
    table = Table(title=f"{kind.value}s, newest first")
    for column in ("id", "merchant", "amount", "status", "channel", "failure", "created"):
        table.add_column(column)
    for o in orders:
        failure = f"{o.failure.failure_class}:{o.failure.code}" if o.failure else ""
        table.add_row(
            o.id,
            o.merchant_id,
            format_minor(o.amount, o.currency),
            o.status.value + (" (unknown)" if o.result_unknown else ""),
            o.channel or "",
            failure,
            o.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


for _app, _kind in ((payins_app, OrderKind.PAYIN), (payouts_app, OrderKind.PAYOUT)):
    _app.command("show")(_show)

    def _lister(
        merchant: Annotated[str | None, typer.Option("--merchant")] = None,
        status: Annotated[str | None, typer.Option(help="created, processing, ...")] = None,
        limit: int = 20,
        kind: OrderKind = _kind,
    ) -> None:
        """Orders, newest first."""
        _list(kind, merchant, status, limit)

    _app.command("list")(_lister)
refunds_app.command("show")(_show)


RATES_CAPTION = "effective = ok / (ok + channel + system): payer and merchant failures left out"
RATE_COLUMNS = (
    "day", "kind", "product", "channel", "ok", "user", "merchant", "channel", "system",
    "open", "unavailable", "raw", "effective",
)  # fmt: skip


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


@payments_app.command("rates")
def rates(
    date_from: Annotated[
        str | None, typer.Option("--from", help="YYYY-MM-DD, business day")
    ] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    product: str | None = None,
    channel: str | None = None,
    kind: str | None = None,
) -> None:
    """Raw and effective success rates per product, channel and business day."""
    end = date.fromisoformat(date_to) if date_to else date.today()
    start = date.fromisoformat(date_from) if date_from else end - timedelta(days=6)
    with _runtime() as runtime:
        rows = runtime.payments.success_rates(
            date_from=start, date_to=end, product=product, channel=channel, kind=kind
        )
    table = Table(
        title=f"success rates {start} .. {end} (effective leaves out user/merchant failures)"
    )
    for column in (
        "day",
        "kind",
        "product",
        "channel",
        "ok",
        "user",
        "merchant",
        "channel",
        "system",
        "open",
        "raw",
        "effective",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.day, r.kind, r.product, r.channel, str(r.succeeded), str(r.failed_user),
            str(r.failed_merchant), str(r.failed_channel), str(r.failed_system),
            str(r.unresolved), str(r.unavailable), _rate(r.raw_rate), _rate(r.effective_rate),
        )  # fmt: skip
    console.print(table)


@payments_app.command("janitor")
def janitor() -> None:
    """One sweep: query back orders whose result is unknown, close expired pay-ins.
    (`paycore serve` runs the janitor continuously.)"""
    with _runtime() as runtime:
        report = runtime.janitor.sweep()
        count, age_s = runtime.janitor.unresolved()
    console.print(
        f"queried {report.queried}, resolved {report.resolved}, still waiting "
        f"{report.still_waiting}, errors {report.errors}; unresolved now {count}, "
        f"oldest {age_s:.0f} s"
    )
