"""`paycore accounts|transfers|ledger ...`: the ledger from the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from paycore.clock import SystemClock
from paycore.errors import Rejected
from paycore.ledger.checks import HISTORY_MAX, Finding, LedgerChecks, SliceCheck
from paycore.ledger.model import (
    AccountFlags,
    AccountStatus,
    Caller,
    TransferFlags,
    TransferRequest,
    flag_names,
)
from paycore.ledger.service import AccountRequest, Ledger
from paycore.money import format_minor, is_known_currency
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.text import is_ascii_digits

accounts_app = typer.Typer(help="Create and inspect ledger accounts.", no_args_is_help=True)
transfers_app = typer.Typer(help="Post transfers.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger-wide checks.", no_args_is_help=True)
# Piped output is not cut to 80 columns: ids and amounts must survive a pipe intact.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@contextmanager
def open_ledger() -> Iterator[Ledger]:
    engine = make_engine(Settings.from_env().database_url, pool_size=2)
    ledger = Ledger(engine)
    try:
        yield ledger
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from exc
    finally:
        ledger.close()
        engine.dispose()


def fail(code: str, detail: str) -> typer.Exit:
    err.print(f"[red]error[/red] {code}: {detail}")
    return typer.Exit(2)


def parse_flag_names(kind: Any, names: list[str]) -> Any:
    value = kind(0)
    for name in names:
        try:
            value |= kind[name.replace("-", "_").upper()]
        except KeyError:
            raise fail("unknown_flag", f"{name!r} is not a flag") from None
    return value


@accounts_app.command("create")
def create_account(
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. CNY")],
    account_id: Annotated[
        str | None, typer.Option("--id", help="defaults to a new acct_ id")
    ] = None,
    code: Annotated[int, typer.Option(help="chart-of-accounts code")] = 0,
    owner_id: Annotated[str | None, typer.Option("--owner")] = None,
    flag: Annotated[
        list[str] | None, typer.Option(help="e.g. debits_must_not_exceed_credits")
    ] = None,
) -> None:
    """Create an account (idempotent by --id)."""
    if not is_known_currency(currency):
        raise fail("unknown_currency", f"{currency!r} is not ISO 4217")
    flags = parse_flag_names(AccountFlags, flag or [])
    with open_ledger() as ledger:
        # Opened like the HTTP route opens one: an API account, never under a flow's id.
        [(account, created)] = ledger.create_accounts(
            [
                AccountRequest(
                    id=account_id, currency=currency, code=code, owner_id=owner_id, flags=flags
                )
            ],
            caller=Caller(merchant_id=None),
        )
    out.print(("created " if created else "exists ") + account.id)


@accounts_app.command("show")
def show_account(
    account_id: str,
    at: Annotated[
        datetime | None,
        typer.Option(help="balances as of this UTC instant, e.g. 2026-11-25T08:00:00"),
    ] = None,
) -> None:
    """Show an account with its balances, now or as of an instant."""
    with open_ledger() as ledger:
        account = ledger.get_account(account_id)
        if account is None:
            raise fail("account_not_found", account_id)
        if at is not None:
            instant = at if at.tzinfo else at.replace(tzinfo=UTC)
            dp, dpo, cp, cpo = ledger.balance_at(account_id, instant)
            account = replace(
                account, debits_pending=dp, debits_posted=dpo, credits_pending=cp,
                credits_posted=cpo,
            )  # fmt: skip
    title = account.id if at is None else f"{account.id} as of {at:%Y-%m-%d %H:%M:%S} UTC"
    table = Table(title=title, show_header=False)
    for name, value in (
        ("currency", account.currency),
        ("code", account.code),
        ("status", account.status),
        ("flags", ", ".join(flag_names(AccountFlags, account.flags)) or "-"),
        ("debits_pending", account.debits_pending),
        ("debits_posted", account.debits_posted),
        ("credits_pending", account.credits_pending),
        ("credits_posted", account.credits_posted),
        ("available", format_minor(account.available, account.currency)),
    ):
        table.add_row(name, str(value))
    out.print(table)


@accounts_app.command("list")
def list_accounts(
    owner: Annotated[str | None, typer.Option(help="only this owner's accounts")] = None,
    limit: Annotated[int, typer.Option(help="accounts per page")] = 50,
    after: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
) -> None:
    """List accounts in id order with their available balances."""
    with open_ledger() as ledger:
        page = ledger.list_accounts(owner_id=owner, limit=limit, after=after)
    table = Table("id", "owner", "status", "available", "currency")
    for a in page.accounts:
        table.add_row(a.id, a.owner_id or "-", a.status.value, str(a.available), a.currency)
    out.print(table)
    if page.next_cursor:
        out.print(f"more: --after {page.next_cursor}")


@accounts_app.command("history")
def account_history(
    account_id: str,
    limit: Annotated[int, typer.Option(help="entries per page")] = 20,
    after: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    oldest_first: Annotated[bool, typer.Option("--oldest-first")] = False,
) -> None:
    """List an account's entries with the running balances after each."""
    with open_ledger() as ledger:
        page = ledger.entries(account_id, limit=limit, after=after, newest_first=not oldest_first)
    names = (
        "at",
        "transfer",
        "event",
        "side",
        "amount",
        "dr pend",
        "dr post",
        "cr pend",
        "cr post",
    )
    # Fold rather than cut: ids and amounts must survive a narrow terminal or a pipe.
    table = Table(*(Column(name, overflow="fold") for name in names), title=account_id)
    for e in page.entries:
        balances = (e.debits_pending, e.debits_posted, e.credits_pending, e.credits_posted)
        table.add_row(
            f"{e.created_at:%m-%d %H:%M:%S}",
            e.transfer_id,
            e.event,
            e.side,
            str(e.amount),
            *map(str, balances),
        )
    out.print(table)
    if page.next_cursor:
        out.print(f"more: --after {page.next_cursor}")


@accounts_app.command("status")
def account_status(
    account_id: str,
    status: Annotated[AccountStatus, typer.Argument(help="active, frozen or closed")],
) -> None:
    """Freeze, unfreeze or close an account."""
    with open_ledger() as ledger:
        account = ledger.set_account_status(account_id, status)
    out.print(f"{account.id} is {account.status.value}")


def _parse_amount(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not is_ascii_digits(raw.lstrip("-")):
        raise fail("wrong_type", f"amount {raw!r} must be an integer of minor units")
    return int(raw)


@transfers_app.command("create")
def create_transfer(
    transfer_id: Annotated[str | None, typer.Option("--id")] = None,
    debit: Annotated[str | None, typer.Option(help="debit account id")] = None,
    credit: Annotated[str | None, typer.Option(help="credit account id")] = None,
    amount: Annotated[str | None, typer.Option(help="integer minor units")] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    flag: Annotated[
        list[str] | None, typer.Option(help="linked, pending, post_pending, ...")
    ] = None,
    pending_id: Annotated[str | None, typer.Option()] = None,
    timeout_s: Annotated[int, typer.Option()] = 0,
    code: Annotated[int, typer.Option()] = 0,
    file: Annotated[Path | None, typer.Option(help='JSON file: {"transfers": [...]}')] = None,
) -> None:
    """Post one transfer from options, or a batch from --file. Exits 1 if any is not created."""
    batch = (
        _batch_from_file(file)
        if file
        else [
            TransferRequest(
                id=transfer_id or "",
                debit_account_id=debit,
                credit_account_id=credit,
                amount=_parse_amount(amount),
                currency=currency,
                flags=parse_flag_names(TransferFlags, flag or []),
                pending_id=pending_id,
                timeout_s=timeout_s,
                code=code,
            )
        ]
    )
    with open_ledger() as ledger:
        results = ledger.create_transfers(batch)
    table = Table("id", "result")
    for r in results:
        table.add_row(r.id, r.result)
    out.print(table)
    if any(r.result not in ("created", "exists") for r in results):
        raise typer.Exit(1)


def _batch_from_file(path: Path) -> list[TransferRequest]:
    """A batch file is the body of POST /v1/transfers, checked by the same schema, so a
    file that the API refuses the command refuses too. Imported here: only --file needs it."""
    from pydantic import ValidationError

    from paycore.ledger.api import TransferBatchIn

    try:
        body = TransferBatchIn.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail("invalid_request", f"{first['loc']}: {first['msg']}") from exc
    except OSError as exc:
        raise fail("file_unreadable", str(exc)) from exc
    return [t.to_request() for t in body.transfers]


@contextmanager
def open_checks() -> Iterator[LedgerChecks]:
    engine = make_engine(Settings.from_env().database_url, pool_size=2)
    ledger = Ledger(engine)
    try:
        clock = SystemClock()
        yield LedgerChecks(engine, ledger, clock, flows=[_flow_check(engine, clock)])
    finally:
        ledger.close()
        engine.dispose()


def _flow_check(engine: Any, clock: SystemClock) -> SliceCheck:
    """Every flow's records against the ledger (`paycore/consistency/`), the same check
    the server's schedule runs. Imported here: the ledger itself knows no flow."""
    from paycore.consistency.service import FlowCheck

    return FlowCheck(engine, clock)


@ledger_app.command("check")
def check() -> None:
    """Recompute every balance from the journal, check every flow's orders against it,
    and record the result (see `checks`); exits 1 on any mismatch or disagreement."""
    status = "recomputing every balance and checking every flow against the journal"
    with open_checks() as checks, err.status(status):
        run, report = checks.run(trigger="command")
    table = Table(
        "currency", "debits_pending", "credits_pending", "debits_posted", "credits_posted"
    )
    for currency, (dp, dpo, cp, cpo) in sorted(report.totals.items()):
        table.add_row(currency, str(dp), str(cp), str(dpo), str(cpo))
    out.print(table)
    out.print(f"accounts checked: {report.accounts_checked}")
    for problem in report.problems:
        err.print(f"[red]mismatch[/red] {problem}")
    if run.findings:
        _print_findings(run.findings)
    if not run.ok:
        raise typer.Exit(1)
    out.print("[green]ledger balances, and every flow agrees with it[/green]")


def _print_findings(findings: Sequence[Finding]) -> None:
    names = ("code", "record", "transfer", "detail")
    table = Table(
        *(Column(name, overflow="fold") for name in names),
        title=f"{len(findings)} records disagree with the ledger",
        title_style="bold red",
    )
    for f in findings:
        table.add_row(f"[red]{f.code}[/red]", f.subject_id, f.transfer_id, f.detail)
    err.print(table)


@ledger_app.command("checks")
def checks_history(
    limit: Annotated[int, typer.Option(min=1, max=HISTORY_MAX)] = 20,
) -> None:
    """The latest self-checks, scheduled (inside `serve`) or run by hand."""
    with open_checks() as checks:
        runs = checks.history(limit=limit)
    table = Table("started (UTC)", "took", "trigger", "accounts", "result", title="ledger checks")
    for run in runs:
        took = (run.finished_at - run.started_at).total_seconds()
        result = "[green]ok[/green]" if run.ok else f"[red]{len(run.problems)} problems[/red]"
        table.add_row(
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{took:.1f} s",
            run.trigger,
            str(run.accounts_checked),
            result,
        )
    out.print(table)
    if not runs:
        out.print("no ledger check has run yet")


@ledger_app.command("trial-balance")
def trial_balance(
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="also write it to this CSV file")
    ] = None,
) -> None:
    """Balances summed per currency and chart-of-accounts code; exits 1 if a currency's
    debit and credit balances differ."""
    from paycore.chart import to_csv, trial_balance_view

    with open_ledger() as ledger:
        view = trial_balance_view(ledger.trial_balance())
    table = Table("currency", "code", "name", "accounts", "debit", "credit", title="trial balance")
    for row in view:
        currency = str(row["currency"])
        table.add_row(
            currency,
            str(row["code"]),
            str(row["name"]),
            str(row["accounts"]),
            format_minor(int(row["debit_balance"]), currency),
            format_minor(int(row["credit_balance"]), currency),
            end_section=row["name"] == "total",
        )
    out.print(table)
    if csv_file is not None:
        csv_file.write_text(to_csv(view), encoding="utf-8")
        out.print(f"written to {csv_file}")
    unequal = [
        r for r in view if r["name"] == "total" and r["debit_balance"] != r["credit_balance"]
    ]
    for row in unequal:
        err.print(f"[red]{row['currency']}: debit and credit balances differ[/red]")
    if unequal:
        raise typer.Exit(1)


@ledger_app.command("expire")
def expire() -> None:
    """Expire every hold whose timeout has run out (the server also does this every second)."""
    swept = 0
    with open_ledger() as ledger, err.status("expiring due holds"):
        while touched := ledger.expire_due_holds():
            swept += touched
    out.print(f"accounts with expired holds: {swept}")
