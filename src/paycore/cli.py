"""The `paycore` command."""

from __future__ import annotations

from typing import Annotated

import typer

from paycore.ledger.cli import accounts_app, ledger_app, transfers_app
from paycore.merchants.cli import merchants_app
from paycore.notifications.cli import notifications_app
from paycore.platform.config import Settings
from paycore.sandbox_bank.cli import sandbox_bank_app
from paycore.security.cli import keys_app

app = typer.Typer(help="paycore: payment platform on a double-entry ledger.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(transfers_app, name="transfers")
app.add_typer(ledger_app, name="ledger")
app.add_typer(sandbox_bank_app, name="sandbox-bank")
app.add_typer(merchants_app, name="merchants")
app.add_typer(keys_app, name="keys")
app.add_typer(notifications_app, name="notifications")


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
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs).

    Several workers are safe: their ledger writers serialize on row locks (PostgreSQL) or
    the database lock (SQLite), and each expires due holds idempotently. On SQLite keep one:
    a second process only queues on the single write lock.
    """
    import uvicorn

    uvicorn.run(
        "paycore.web.app:create_app", factory=True, host=host, port=port, workers=workers,
        log_level="info", access_log=access_log,
    )  # fmt: skip


def main() -> None:
    app()
