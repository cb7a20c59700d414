"""`paycore payins|payouts|refunds|payments ...`: orders and success rates from a terminal.

Exit codes: 0 done, 2 refused (the code and the reason are printed on stderr). Reading
commands (list, show, rates) do not load the channels, so they work without the sandbox
bank's keys or a channels file."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from paycore import limits
from paycore.channels.model import BankAccount, Payer
from paycore.clock import check_date
from paycore.commands import console, open_runtime, print_json, refuse
from paycore.errors import Rejected
from paycore.money import format_minor
from paycore.payments.model import OrderKind, OrderStatus, RateRow
from paycore.payments.service import Created, PayinCommand, PayoutCommand, RefundCommand
from paycore.payments.views import order_view

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

Merchant = Annotated[str, typer.Option("--merchant", help="merchant id (mch_...)")]
Key = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="reuse it when retrying; default: a new one"),
]


def _print_created(created: Created) -> None:
    """The order; a replayed refusal (e.g. insufficient_balance) is refused again."""
    if created.status_code >= 400:
        code = str(created.body.get("code", "refused"))
        raise refuse(code, str(created.body.get("detail", code)) + " (replayed)")
    print_json(dict(created.body))


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
    with open_runtime() as runtime:
        created = runtime.payments.create_payin(
            command, idempotency_key=idempotency_key or str(uuid.uuid4())
        )
        _print_created(created)


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
    with open_runtime() as runtime:
        created = runtime.payments.create_payout(
            command, idempotency_key=idempotency_key or str(uuid.uuid4())
        )
        _print_created(created)


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
    with open_runtime() as runtime:
        created = runtime.payments.create_refund(
            command, idempotency_key=idempotency_key or str(uuid.uuid4())
        )
        _print_created(created)


def _show(order_id: str) -> None:
    with open_runtime(channels=False) as runtime:
        order = runtime.payments.get(merchant_id=None, order_id=order_id)
        view = order_view(order)
        view["attempts"] = [
            {k: str(v) for k, v in a.items() if v is not None}
            for a in runtime.payments.attempts(order.id)
        ]
        print_json(view)


def _list(kind: OrderKind, merchant: str | None, status: OrderStatus | None, limit: int) -> None:
    with open_runtime(channels=False) as runtime:
        orders = runtime.payments.list_orders(
            merchant_id=merchant, kind=kind, limit=limit, status=status
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


def _lister(kind: OrderKind) -> Any:
    def list_orders(
        merchant: Annotated[str | None, typer.Option("--merchant")] = None,
        status: Annotated[OrderStatus | None, typer.Option()] = None,
        limit: Annotated[int, typer.Option(min=1, max=limits.ORDERS_PAGE_MAX)] = 20,
    ) -> None:
        """Orders, newest first."""
        _list(kind, merchant, status, limit)

    return list_orders


for _app, _kind in ((payins_app, OrderKind.PAYIN), (payouts_app, OrderKind.PAYOUT)):
    _app.command("show")(_show)
    _app.command("list")(_lister(_kind))
refunds_app.command("show")(_show)


RATES_CAPTION = "effective = ok / (ok + channel + system): payer and merchant failures left out"
RATE_COLUMNS = (
    "day", "kind", "product", "channel", "ok", "user", "merchant", "channel", "system",
    "open", "unavailable", "raw", "effective",
)  # fmt: skip


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def rates_table(rows: Sequence[RateRow], *, title: str) -> Table:
    """Success rates as a table: this command's and the demo's."""
    table = Table(title=title, caption=RATES_CAPTION)
    for column in RATE_COLUMNS:
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.day, r.kind, r.product, r.channel, str(r.succeeded), str(r.failed_user),
            str(r.failed_merchant), str(r.failed_channel), str(r.failed_system),
            str(r.unresolved), str(r.unavailable), _rate(r.raw_rate), _rate(r.effective_rate),
        )  # fmt: skip
    return table


@payments_app.command("rates")
def rates(
    date_from: Annotated[
        str | None, typer.Option("--from", help="YYYY-MM-DD, business day")
    ] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    product: str | None = None,
    channel: str | None = None,
    kind: OrderKind | None = None,
    per_order: Annotated[
        bool, typer.Option("--per-order", help="each order once by its outcome (the SLO view)")
    ] = False,
) -> None:
    """Raw and effective success rates per product, channel and business day
    (default: the last 7 business days, today included)."""
    with open_runtime(channels=False) as runtime:
        today = runtime.clock.now().astimezone(runtime.payments.ctx.business_tz).date()
        end = _day(date_to, "--to") if date_to else today
        start = _day(date_from, "--from") if date_from else end - timedelta(days=6)
        rows = runtime.payments.success_rates(
            date_from=start,
            date_to=end,
            product=product,
            channel=channel,
            kind=kind.value if kind else None,
            per_order=per_order,
        )
    console.print(rates_table(rows, title=f"success rates {start} .. {end}"))


def _day(text: str, option: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Rejected("invalid_date", f"{option} is YYYY-MM-DD, not {text!r}") from None
    check_date(day, field=option)
    return day


@payments_app.command("janitor")
def janitor() -> None:
    """One sweep: query back orders whose result is unknown, close expired pay-ins.
    (`paycore serve` runs the janitor continuously.)"""
    with open_runtime() as runtime:
        report = runtime.janitor.sweep()
        count, age_s = runtime.janitor.unresolved()
    console.print(
        f"queried {report.queried}, resolved {report.resolved}, still waiting "
        f"{report.still_waiting}, errors {report.errors}; unresolved now {count}, "
        f"oldest {age_s:.0f} s"
    )
