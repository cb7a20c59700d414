"""The `paycore` command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from paycore.collection.cli import collection_app
from paycore.custody.cli import custody_app
from paycore.demo.cli import demo
from paycore.ledger.cli import accounts_app, ledger_app, transfers_app
from paycore.merchants.cli import merchants_app
from paycore.notifications.cli import notifications_app
from paycore.payments.cli import payins_app, payments_app, payouts_app, refunds_app
from paycore.platform.config import Settings
from paycore.recon.cli import recon_app
from paycore.recon.h2h_cli import h2h_app
from paycore.rewards.cli import rewards_app
from paycore.sandbox_bank.cli import serve_bank
from paycore.security.cli import keys_app
from paycore.split.cli import split_app
from paycore.wallets.cli import wallets_app

app = typer.Typer(help="paycore: payment platform on a double-entry ledger.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(transfers_app, name="transfers")
app.add_typer(ledger_app, name="ledger")
app.command("sandbox-bank")(serve_bank)
app.command("demo")(demo)
app.add_typer(merchants_app, name="merchants")
app.add_typer(keys_app, name="keys")
app.add_typer(notifications_app, name="notifications")
app.add_typer(payins_app, name="payins")
app.add_typer(payouts_app, name="payouts")
app.add_typer(refunds_app, name="refunds")
app.add_typer(payments_app, name="payments")
app.add_typer(wallets_app, name="wallets")
app.add_typer(split_app, name="split")
app.add_typer(custody_app, name="custody")
app.add_typer(collection_app, name="collection")
app.add_typer(rewards_app, name="rewards")
app.add_typer(recon_app, name="recon")
recon_app.add_typer(h2h_app, name="h2h")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply Alembic migrations to PAYCORE_DATABASE_URL."""
    from paycore.platform.db import upgrade

    url = Settings.from_env().database_url
    upgrade(url, revision)
    typer.echo(f"database at {url.split('@')[-1]} is at {revision}")


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="server processes, each with its own writer")
    ] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request (costs throughput)")] = False,
    sandbox: Annotated[
        bool,
        typer.Option(
            help="with the default channels, start the sandbox bank if none answers on :8100"
        ),
    ] = True,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs).

    Several workers are safe: their ledger writers serialize on row locks (PostgreSQL) or
    the database lock (SQLite), and each expires due holds idempotently. On SQLite keep one:
    a second process only queues on the single write lock.
    """
    import uvicorn

    # Channels call back where this server listens, unless told otherwise (a proxy, say).
    os.environ.setdefault("PAYCORE_PUBLIC_URL", f"http://{host}:{port}")
    bank = _prepare_channels(Settings.from_env(), start_sandbox=sandbox)
    try:
        uvicorn.run(
            "paycore.web.app:create_app", factory=True, host=host, port=port, workers=workers,
            log_level="info", access_log=access_log,
        )  # fmt: skip
    finally:
        if bank is not None:
            bank.terminate()
            bank.wait(timeout=10)


def _prepare_channels(settings: Settings, *, start_sandbox: bool) -> subprocess.Popen[bytes] | None:
    """Make sandbox channels' keys before any worker starts; start the default sandbox bank
    when nothing answers where it should be."""
    from paycore.channels.config import read_config
    from paycore.sandbox_bank import launcher

    for channel in read_config(settings).channels:
        if channel.type != "sandbox":
            continue
        data_dir = Path(channel.data_dir)
        launcher.ensure_keys(data_dir)
        default = not settings.channels_file
        if default and start_sandbox and not launcher.is_answering(channel.base_url):
            bank_port = int(channel.base_url.rsplit(":", 1)[1].split("/")[0])
            typer.echo(f"starting the sandbox bank on {channel.base_url} ({data_dir})")
            return launcher.start_bank(data_dir, port=bank_port)
    return None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
