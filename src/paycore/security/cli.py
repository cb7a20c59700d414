"""`paycore keys create|list|revoke`: API keys from the command line.

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
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security.model import ApiKey, Scope
from paycore.security.service import ApiKeys

keys_app = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

STORE_IT_NOW = (
    "[yellow]Store this key now (e.g. in your secret manager): it is shown only once and "
    "paycore keeps only its hash.[/yellow]"
)


@contextmanager
def open_api_keys() -> Iterator[ApiKeys]:
    engine = make_engine(Settings.from_env().database_url, pool_size=2)
    try:
        yield ApiKeys(engine)
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


def print_new_key(key: ApiKey, clear: str, *, quiet: bool) -> None:
    """The clear key once: alone on stdout with --quiet (for scripts), else with its facts."""
    if quiet:
        typer.echo(clear)
    else:
        out.print(f"key_id    {key.id}")
        out.print(f"merchant  {key.merchant_id or '- (platform key)'}")
        out.print(f"scopes    {' '.join(sorted(key.scopes))}")
        typer.echo(f"key       {clear}")
    err.print(STORE_IT_NOW)


@keys_app.command("create")
def create_key(
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help=f"repeatable; one of {', '.join(s.value for s in Scope)}. A merchant key "
            "defaults to the payments scopes; a platform key must name its scopes."
        ),
    ] = None,
    merchant: Annotated[
        str | None, typer.Option(help="the merchant the key acts for; none: a platform key")
    ] = None,
    label: Annotated[str, typer.Option(help="what the key is for")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only the key")] = False,
) -> None:
    """Issue an API key and print it once."""
    with open_api_keys() as api_keys:
        key, clear = api_keys.issue(merchant_id=merchant, scopes=scope, label=label)
    print_new_key(key, clear, quiet=quiet)


@keys_app.command("list")
def list_keys(
    merchant: Annotated[str | None, typer.Option(help="only this merchant's keys")] = None,
) -> None:
    """List keys (never their secrets), revoked ones included."""
    with open_api_keys() as api_keys:
        keys = api_keys.list(merchant)
    table = Table("key id", "merchant", "scopes", "label", "created", "last used", "revoked")
    for k in keys:
        table.add_row(
            k.id,
            k.merchant_id or "-",
            " ".join(sorted(k.scopes)),
            k.label or "-",
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-",
        )
    out.print(table)


@keys_app.command("revoke")
def revoke_key(key_id: str) -> None:
    """Revoke a key. Servers stop accepting it within their cache TTL (10 s)."""
    with open_api_keys() as api_keys:
        key = api_keys.revoke(key_id)
    out.print(f"{key.id} revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
