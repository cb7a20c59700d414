"""`paycore merchants create|list|show|set-webhook|set-status`.

Exit codes: 0 done, 2 refused (the reason is printed on stderr)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paycore.errors import Rejected
from paycore.merchants.model import MERCHANTS_PAGE_MAX, MerchantStatus
from paycore.merchants.service import Merchants
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security.crypto import CipherError, load_field_cipher

merchants_app = typer.Typer(help="Create and inspect merchants.", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

STORE_IT_NOW = (
    "[yellow]Store this webhook secret now: it is shown only once "
    "(`paycore merchants set-webhook` rotates it).[/yellow]"
)


@contextmanager
def open_merchants() -> Iterator[Merchants]:
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        yield Merchants(engine, load_field_cipher(settings).bind(engine))
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from exc
    except CipherError as exc:
        err.print(f"[red]error[/red] field keys: {exc}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


@merchants_app.command("create")
def create_merchant(
    name: Annotated[str, typer.Option(help="the merchant's name")],
    fee_bps: Annotated[int, typer.Option(help="fee in basis points, 0..10000")] = 0,
    webhook_url: Annotated[str | None, typer.Option(help="where notifications go")] = None,
    merchant_id: Annotated[
        str | None, typer.Option("--id", help="defaults to a new mch_ id")
    ] = None,
) -> None:
    """Create a merchant; prints its webhook signing secret once."""
    with open_merchants() as merchants:
        merchant, secret = merchants.create(
            name=name, fee_bps=fee_bps, webhook_url=webhook_url, merchant_id=merchant_id
        )
    out.print(f"created {merchant.id}")
    typer.echo(f"webhook_secret {secret}")
    err.print(STORE_IT_NOW)


@merchants_app.command("list")
def list_merchants(
    limit: Annotated[int, typer.Option(min=1, max=MERCHANTS_PAGE_MAX)] = 100,
    after: Annotated[str | None, typer.Option(help="the last id of the previous page")] = None,
) -> None:
    """List merchants in id order."""
    with open_merchants() as merchants:
        page = merchants.list(limit=limit, after=after)
    table = Table("id", "name", "status", "fee bps", "webhook url", "created")
    for m in page:
        table.add_row(
            m.id, m.name, m.status.value, str(m.fee_bps), m.webhook_url or "-",
            f"{m.created_at:%Y-%m-%d %H:%M}",
        )  # fmt: skip
    out.print(table)
    if len(page) == limit:
        out.print(f"more: --after {page[-1].id}")


@merchants_app.command("show")
def show_merchant(merchant_id: str) -> None:
    """Show one merchant (never its webhook secret)."""
    with open_merchants() as merchants:
        merchant = merchants.get(merchant_id)
    if merchant is None:
        err.print(f"[red]error[/red] merchant_not_found: {merchant_id}")
        raise typer.Exit(2)
    table = Table(title=merchant.id, show_header=False)
    for name, value in (
        ("name", merchant.name),
        ("status", merchant.status.value),
        ("fee_bps", str(merchant.fee_bps)),
        ("webhook_url", merchant.webhook_url or "-"),
        ("created_at", f"{merchant.created_at:%Y-%m-%d %H:%M:%S} UTC"),
    ):
        table.add_row(name, value)
    out.print(table)


@merchants_app.command("set-webhook")
def set_webhook(
    merchant_id: str,
    url: Annotated[str | None, typer.Argument(help="omit to stop webhooks")] = None,
) -> None:
    """Set the webhook URL and rotate the signing secret (printed once)."""
    with open_merchants() as merchants:
        secret = merchants.set_webhook(merchant_id, url)
    out.print(f"{merchant_id} webhooks go to {url or 'nowhere'}")
    typer.echo(f"webhook_secret {secret}")
    err.print(STORE_IT_NOW)


@merchants_app.command("set-status")
def set_status(
    merchant_id: str,
    status: Annotated[MerchantStatus, typer.Argument(help="active or suspended")],
) -> None:
    """Suspend or reactivate a merchant."""
    with open_merchants() as merchants:
        merchant = merchants.set_status(merchant_id, status)
    out.print(f"{merchant.id} is {merchant.status.value}")
