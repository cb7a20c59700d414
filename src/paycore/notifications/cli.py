"""`paycore notifications list|show|resend|stats`: the outbox from the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paycore.errors import Rejected
from paycore.notifications.model import EVENTS_PAGE_DEFAULT, EVENTS_PAGE_MAX, DeliveryStatus
from paycore.notifications.service import Notifications
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security.crypto import load_field_cipher

notifications_app = typer.Typer(
    help="Merchant notifications: events, webhook deliveries, resend.", no_args_is_help=True
)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@contextmanager
def open_notifications() -> Iterator[Notifications]:
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        yield Notifications(engine, cipher=load_field_cipher(settings).bind(engine))
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


def _when(instant: datetime | None) -> str:
    return "-" if instant is None else f"{instant:%Y-%m-%d %H:%M:%S}"


@notifications_app.command("list")
def list_events(
    merchant_id: Annotated[str | None, typer.Option("--merchant", help="one merchant")] = None,
    status: Annotated[DeliveryStatus | None, typer.Option(help="delivery status")] = None,
    limit: Annotated[int, typer.Option(min=1, max=EVENTS_PAGE_MAX)] = EVENTS_PAGE_DEFAULT,
    after: Annotated[str | None, typer.Option(help="the next_cursor of the page before")] = None,
) -> None:
    """List events with their delivery state, newest first."""
    with open_notifications() as notifications:
        page = notifications.list_events(
            merchant_id=merchant_id, limit=limit, after=after, status=status
        )
    table = Table("event", "merchant", "type", "object", "created (UTC)", "status", "attempts",
                  "last")  # fmt: skip
    for view in page.events:
        e, d = view.event, view.delivery
        last = str(d.last_status_code or d.last_error or "-")
        table.add_row(e.id, e.merchant_id, e.type, e.object_id, _when(e.created_at),
                      d.status.value, str(d.attempts), last)  # fmt: skip
    out.print(table)
    if page.next_cursor:
        out.print(f"next page: --after {page.next_cursor}")


@notifications_app.command("show")
def show_event(event_id: str) -> None:
    """Show an event, its delivery and its most recent attempts."""
    with open_notifications() as notifications:
        detail = notifications.get_event(event_id, merchant_id=None)
    e, d = detail.event, detail.delivery
    summary = Table(title=e.id, show_header=False)
    for name, value in (
        ("merchant", e.merchant_id),
        ("type", e.type),
        ("object", e.object_id),
        ("created (UTC)", _when(e.created_at)),
        ("status", d.status.value),
        ("attempts", str(d.attempts)),
        ("next attempt (UTC)", _when(d.next_attempt_at)),
        ("delivered (UTC)", _when(d.delivered_at)),
        ("last error", d.last_error or "-"),
    ):
        summary.add_row(name, value)
    out.print(summary)
    log = Table("attempted (UTC)", "url", "status", "error", "ms", title="attempts, newest first")
    for a in detail.attempts:
        log.add_row(_when(a.attempted_at), a.url, str(a.status_code or "-"), a.error or "-",
                    str(a.duration_ms))  # fmt: skip
    out.print(log)


@notifications_app.command("resend")
def resend_event(event_id: str) -> None:
    """Deliver an event again (same event id: receivers dedupe)."""
    with open_notifications() as notifications:
        delivery = notifications.resend(event_id)
    out.print(f"scheduled {delivery.event_id} for redelivery")


@notifications_app.command("stats")
def stats() -> None:
    """Backlog and failures, for ops."""
    with open_notifications() as notifications:
        s = notifications.delivery_stats()
    table = Table("pending", "oldest pending (s)", "failed", "skipped")
    table.add_row(str(s.pending), f"{s.oldest_pending_age_s:.1f}", str(s.failed), str(s.skipped))
    out.print(table)
