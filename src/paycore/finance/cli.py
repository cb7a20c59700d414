"""`paycore finance`: the GL chart, vouchers of a day, derivation and reconciliation."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Column, Table

from paycore.commands import console, err, open_runtime, print_json, refuse
from paycore.errors import Rejected
from paycore.finance.backlog import FinanceBacklog
from paycore.finance.chart import load_chart
from paycore.finance.push import FinancePush, PushReport
from paycore.finance.reconcile import DayReconciliation
from paycore.finance.service import Finance
from paycore.platform.config import Settings

if TYPE_CHECKING:
    from paycore.runtime import Runtime

finance_app = typer.Typer(
    help="Accounting vouchers (业财): chart, derivation, push, reconciliation, status.",
    no_args_is_help=True,
)

NOT_CONFIGURED = "finance_receiver_not_configured"
ERRORS_SHOWN_MAX = 10

Day = Annotated[str, typer.Option("--date", help="business day, YYYY-MM-DD (China time)")]


def _finance(rt: Runtime) -> Finance:
    """The runtime's Finance (with the finance system's booked list) once it has one;
    until then one on the runtime's database, checking the ledger only."""
    found = getattr(rt, "finance", None)
    return found if isinstance(found, Finance) else Finance.for_runtime(rt)


def _relay(rt: Runtime) -> FinancePush:
    """The runtime's push relay: there once the finance system's secret file exists."""
    found = getattr(rt, "finance_push", None)
    if not isinstance(found, FinancePush):
        raise Rejected(
            NOT_CONFIGURED,
            "no finance system to push to: its secret file (PAYCORE_FINANCE_SECRET_FILE, "
            "by default <data dir>/sandbox-finance/push_secret) does not exist",
        )
    return found


def _day(value: str) -> date:
    try:
        if len(value) == 10:  # fromisoformat alone takes 20261130 and 2026-W49-1 too
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise refuse("invalid_date", f"date must be YYYY-MM-DD, got {value!r}")


@finance_app.command("chart")
def chart() -> None:
    """The GL chart in force: every ledger code and the GL account it books to."""
    settings = Settings.from_env()
    try:
        found = load_chart(getattr(settings, "finance_chart_file", ""))
    except Rejected as error:
        raise refuse(error.code, error.detail) from None
    table = Table("ledger code", "paycore name", "GL", "科目", "account")
    for row in found.view():
        table.add_row(*(escape(str(row[k])) for k in _CHART_COLUMNS))
    console.print(table)


_CHART_COLUMNS = ("ledger_code", "ledger_name", "gl_account", "gl_name_zh", "gl_name_en")


@finance_app.command("derive")
def derive(day: Day) -> None:
    """Derive a finished day's vouchers (again: compared, nothing written)."""
    with open_runtime(channels=False) as rt:
        result = _finance(rt).derive_day(_day(day))
    print_json(result.view())


@finance_app.command("vouchers")
def vouchers(day: Day) -> None:
    """The day's vouchers with their lines and push state, as JSON."""
    with open_runtime(channels=False) as rt:
        found = _finance(rt).vouchers(_day(day))
    print_json({"business_date": day, "data": [r.view(lines=True) for r in found]})


@finance_app.command("reconcile")
def reconcile(day: Day) -> None:
    """Reconcile a derived day against the ledger (and the finance system); exit 1 and
    list the breaks when it does not reconcile."""
    with open_runtime(channels=False) as rt:
        found = _finance(rt).reconcile_day(_day(day))
    _print_reconciliation(found)
    if not found.ok:
        raise typer.Exit(1)


@finance_app.command("push")
def push() -> None:
    """Push every voucher due now to the finance system; exit 1 if any was not booked
    (the receiver failed: due again after its backoff; or refused: see `status`)."""
    with open_runtime(channels=False) as rt:
        relay = _relay(rt)
        due = relay.backlog(overdue_s=0).overdue
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("pushing vouchers", total=due)
            report = relay.push_all(on_batch=lambda r: progress.advance(task, r.claimed))
        left = _finance(rt).backlog()
    _print_push(report, left)
    if report.claimed > report.acked + report.duplicates:
        raise typer.Exit(1)


def _print_push(report: PushReport, left: FinanceBacklog) -> None:
    table = Table("vouchers", Column("count", justify="right"), title="finance push")
    for name, count in (
        ("booked now", report.acked),
        ("booked before (duplicate)", report.duplicates),
        ("refused (rejected)", report.rejected),
        ("receiver failed: due after backoff", report.retried + report.released),
        ("outcome not written: re-pushed later", report.unrecorded + report.lost_leases),
        ("still pending", left.vouchers_pending),
        ("rejected in all", left.vouchers_rejected),
    ):
        table.add_row(name, str(count))
    console.print(table)
    for error in report.errors[:ERRORS_SHOWN_MAX]:
        err.print(f"[yellow]{escape(error)}[/yellow]")


@finance_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print the backlog as JSON")] = False,
) -> None:
    """How far behind finance is: finished days not derived, vouchers not pushed or
    refused, days that do not reconcile."""
    with open_runtime(channels=False) as rt:
        found = _finance(rt).backlog()
    if as_json:
        print_json(found.view() | {"behind": found.reasons(age_s=0)})
        return
    pending_age = f"{int(found.oldest_pending_age_s)} s" if found.vouchers_pending else ""
    table = Table("", Column("count", justify="right"), "oldest", title="finance status")
    for name, count, oldest in (
        ("finished days not derived", found.finished_days_not_derived, found.oldest_underived_day),
        ("vouchers not pushed", found.vouchers_pending, pending_age),
        ("vouchers refused", found.vouchers_rejected, None),
        ("days with breaks", found.days_with_breaks, found.oldest_break_day),
        ("days the finance system did not answer for", found.days_receiver_unavailable,
         found.oldest_unavailable_day),
    ):  # fmt: skip
        table.add_row(name, str(count), _text(oldest))
    console.print(table)
    reasons = found.reasons(age_s=0)
    console.print("behind: " + "; ".join(reasons) if reasons else "nothing behind")


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _print_reconciliation(found: DayReconciliation) -> None:
    receiver = "and the finance system" if found.receiver_checked else "(finance system not asked)"
    console.print(f"{found.business_date}: {found.status}, {len(found.breaks)} breaks {receiver}")
    if not found.breaks:
        return
    table = Table("break", "voucher", "currency", "GL", "code", "vouchers dr/cr", "ledger dr/cr")
    for b in found.breaks:
        table.add_row(
            escape(str(b["kind"])),
            escape(str(b.get("voucher_id", ""))),
            escape(str(b.get("currency", ""))),
            escape(str(b.get("gl_account", ""))),
            str(b.get("ledger_code", "")),
            _pair(b, "vouchers"),
            _pair(b, "ledger"),
        )
    err.print(table)


def _pair(found: dict[str, object], side: str) -> str:
    if f"{side}_debit_minor" not in found:
        return ""
    return f"{found[f'{side}_debit_minor']}/{found[f'{side}_credit_minor']}"
