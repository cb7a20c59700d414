"""The `paycore` command."""

from __future__ import annotations

import enum
import os
import signal
import subprocess
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from paycore.aml.cli import aml_app
from paycore.aml.cli_cases import cases_app
from paycore.bills.cli import bills_app
from paycore.collection.cli import collection_app
from paycore.commands import TextArguments
from paycore.custody.cli import custody_app
from paycore.demo.cli import demo
from paycore.dr.cli import dr_app
from paycore.finance.cli import finance_app
from paycore.ledger.cli import accounts_app, ledger_app, transfers_app
from paycore.merchants.cli import merchants_app
from paycore.notifications.cli import notifications_app
from paycore.ops.cli import incidents_app
from paycore.ops.cli_drill import drill_app
from paycore.ops.cli_report import report_app
from paycore.ops.cli_slo import slo_app
from paycore.payments.cli import payins_app, payments_app, payouts_app, refunds_app
from paycore.platform.config import Settings
from paycore.recon.cli import recon_app
from paycore.recon.h2h_cli import h2h_app
from paycore.rewards.cli import rewards_app
from paycore.sandbox_bank.cli import serve_bank
from paycore.sandbox_finance.cli import serve_finance
from paycore.security.cli import keys_app
from paycore.security.cli_audit import audit_app
from paycore.security.cli_columns import columns_app
from paycore.security.cli_files import files_app
from paycore.security.cli_inventory import security_app
from paycore.security.cli_keys import security_keys_app
from paycore.security.cli_lookup import lookup_app
from paycore.security.cli_subjects import subjects_app
from paycore.split.cli import split_app
from paycore.wallets.cli import wallets_app
from paycore.warehouse.cli import warehouse_app
from paycore.warehouse.cli_reports import reports_app

app = typer.Typer(
    help="paycore: payment platform on a double-entry ledger.",
    no_args_is_help=True,
    cls=TextArguments,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(transfers_app, name="transfers")
app.add_typer(ledger_app, name="ledger")
app.command("sandbox-bank")(serve_bank)
app.command("sandbox-finance")(serve_finance)
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
app.add_typer(bills_app, name="bills")
app.add_typer(rewards_app, name="rewards")
app.add_typer(recon_app, name="recon")
recon_app.add_typer(h2h_app, name="h2h")
app.add_typer(finance_app, name="finance")
app.add_typer(dr_app, name="dr")
app.add_typer(report_app, name="report")
app.add_typer(slo_app, name="slo")
app.add_typer(incidents_app, name="incidents")
app.add_typer(drill_app, name="drill")
app.add_typer(security_app, name="security")
app.add_typer(audit_app, name="audit")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(reports_app, name="reports")
app.add_typer(aml_app, name="aml")
aml_app.add_typer(cases_app, name="cases")
security_app.registered_commands += security_keys_app.registered_commands
security_app.add_typer(lookup_app, name="lookup")
security_app.registered_commands += files_app.registered_commands
security_app.registered_commands += columns_app.registered_commands
security_app.registered_commands += subjects_app.registered_commands


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply Alembic migrations to PAYCORE_DATABASE_URL."""
    from paycore.platform.db import upgrade

    url = Settings.from_env().database_url
    upgrade(url, revision)
    typer.echo(f"database at {url.split('@')[-1]} is at {revision}")


class HttpServer(enum.StrEnum):
    UVICORN = "uvicorn"
    GRANIAN = "granian"


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
            help="with the default channels, start the sandbox bank if none answers at"
            " PAYCORE_SANDBOX_URL (:8100)"
        ),
    ] = True,
    server: Annotated[
        HttpServer,
        typer.Option(
            help="uvicorn (httptools, uvloop); granian (Rust HTTP, `pip install granian`)"
        ),
    ] = HttpServer.UVICORN,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs).

    Several workers are safe: their ledger writers serialize on row locks (PostgreSQL) or
    the database lock (SQLite), and each expires due holds idempotently. On SQLite keep one:
    a second process only queues on the single write lock.
    """
    # Channels call back where this server listens, unless told otherwise (a proxy, say).
    os.environ.setdefault("PAYCORE_PUBLIC_URL", f"http://{host}:{port}")
    settings = Settings.from_env()
    bank = _prepare_channels(settings, start_sandbox=sandbox)
    receiver = _prepare_finance(settings, start_sandbox=sandbox)
    # uvicorn stops on SIGTERM, then raises it again under the handler it found: with the
    # default one the process would die there, before the bank is stopped below. (The bank
    # stops with this process anyway, even on SIGKILL: it holds a lifeline.)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        _run_server(server, host=host, port=port, workers=workers, access_log=access_log)
    finally:
        if bank is not None:
            from paycore.sandbox_bank import launcher

            launcher.stop_bank(bank)
        if receiver is not None:
            from paycore.sandbox_finance import launcher as finance_launcher

            finance_launcher.stop_receiver(receiver)


def _run_server(
    server: HttpServer, *, host: str, port: int, workers: int, access_log: bool
) -> None:
    """The app under one HTTP server. uvicorn's parser and loop are named, not left to
    `auto`: a missing httptools or uvloop fails here instead of silently costing speed."""
    target = "paycore.web.app:create_app"
    if server is HttpServer.GRANIAN:
        # Optional: measured on POST /v1/transfers it cost the same server CPU per request as
        # uvicorn with httptools, so it is not a dependency.
        try:
            from granian import Granian  # type: ignore[import-not-found,unused-ignore]
            from granian.constants import (  # type: ignore[import-not-found,unused-ignore]
                Interfaces,
                Loops,
            )
        except ImportError:
            typer.echo("error granian_not_installed: pip install granian", err=True)
            raise typer.Exit(1) from None
        Granian(
            target, address=host, port=port, interface=Interfaces.ASGI, workers=workers,
            factory=True, loop=Loops.uvloop, log_access=access_log,
        ).serve()  # fmt: skip
        return
    import uvicorn

    uvicorn.run(
        target, factory=True, host=host, port=port, workers=workers, http="httptools",
        loop="uvloop", log_level="info", access_log=access_log,
    )  # fmt: skip


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _prepare_channels(settings: Settings, *, start_sandbox: bool) -> subprocess.Popen[bytes] | None:
    """Make sandbox channels' keys before any worker starts; refuse a bank that answers with
    other keys; start the default sandbox bank when nothing answers where it should be."""
    from paycore.channels.config import read_config
    from paycore.sandbox_bank import launcher

    for channel in read_config(settings).channels:
        if channel.type != "sandbox":
            continue
        data_dir = Path(channel.data_dir)
        launcher.ensure_keys(data_dir)
        if launcher.is_answering(channel.base_url):
            mismatch = launcher.keys_mismatch(
                channel.base_url, data_dir, merchant_id=channel.merchant_id
            )
            if mismatch is not None:
                advice = launcher.stale_bank_advice(channel.base_url, data_dir, mismatch)
                typer.echo(f"error sandbox_bank_keys_mismatch: {advice}", err=True)
                raise typer.Exit(1)
            typer.echo(f"using the sandbox bank already answering on {channel.base_url}")
        elif start_sandbox and not settings.channels_file:
            bank_port = urlsplit(channel.base_url).port or 80
            typer.echo(f"starting the sandbox bank on {channel.base_url} ({data_dir})")
            try:
                bank = launcher.start_bank(data_dir, port=bank_port)
            except RuntimeError as exc:
                typer.echo(f"error sandbox_bank_not_started: {exc}", err=True)
                raise typer.Exit(1) from exc
            typer.echo(f"sandbox bank running (pid {bank.pid})")
            return bank
    return None


def _prepare_finance(settings: Settings, *, start_sandbox: bool) -> subprocess.Popen[bytes] | None:
    """The finance system vouchers are pushed to: the sandbox receiver's secret is made, a
    receiver answering with another secret is refused, and with none answering one is
    started (when sandboxes are on, no secret file is configured and the URL is local)."""
    from paycore.errors import Rejected
    from paycore.sandbox_finance import launcher

    if not start_sandbox:  # --no-sandbox: the finance system is someone else's to provide
        return None
    data_dir = Path(settings.data_dir) / "sandbox-finance"
    try:
        receiver = launcher.prepare_for_serve(
            settings.finance_url, data_dir, start=start_sandbox and not settings.finance_secret_file
        )
    except Rejected as exc:
        typer.echo(f"error {exc.code}: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    if receiver is not None:
        where = f"{settings.finance_url} ({data_dir})"
        typer.echo(f"sandbox finance receiver running on {where} (pid {receiver.pid})")
    return receiver


def main() -> None:
    from paycore.platform.lifeline import stop_with_parent
    from paycore.security.masking import install_redaction, redact_stderr

    stop_with_parent()  # a no-op unless a paycore process started this one
    install_redaction()  # every command's log records, not only the web app's
    redact_stderr()  # error messages quoting an argument, tracebacks
    app()


if __name__ == "__main__":
    main()
