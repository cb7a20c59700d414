"""`paycore incidents list|show|review`: incidents from the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paycore.clock import SystemClock
from paycore.errors import Rejected
from paycore.ops.incidents import Incidents
from paycore.ops.model import (
    INCIDENTS_PAGE_DEFAULT,
    INCIDENTS_PAGE_MAX,
    Incident,
    IncidentStatus,
    parse_grade,
)
from paycore.ops.service import load_ops_config
from paycore.platform.config import Settings
from paycore.platform.db import make_engine

incidents_app = typer.Typer(
    help="Incidents: what fired, its impact and grade, its timeline and review.",
    no_args_is_help=True,
)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@contextmanager
def open_incidents() -> Iterator[Incidents]:
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        config = load_ops_config(getattr(settings, "ops_incidents_file", ""))
        yield Incidents(engine, SystemClock(), config=config)
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


def _when(instant: datetime | None) -> str:
    return "-" if instant is None else f"{instant:%Y-%m-%d %H:%M:%S}"


def _instant(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 instant or date; without a zone it is UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected("invalid_period", f"--{name} is an ISO 8601 date or instant") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _grade(incident: Incident) -> str:
    return incident.grade.value if incident.grade else f"awaiting review ({incident.auto_grade})"


@incidents_app.command("list")
def list_incidents(
    opened_from: Annotated[str | None, typer.Option("--from", help="opened at or after")] = None,
    opened_to: Annotated[str | None, typer.Option("--to", help="opened before")] = None,
    status: Annotated[IncidentStatus | None, typer.Option(help="open|resolved|reviewed")] = None,
    grade: Annotated[str | None, typer.Option(help="A, B, C or D (after review)")] = None,
    awaiting_review: Annotated[bool, typer.Option("--awaiting-review")] = False,
    limit: Annotated[int, typer.Option(min=1, max=INCIDENTS_PAGE_MAX)] = INCIDENTS_PAGE_DEFAULT,
    after: Annotated[str | None, typer.Option(help="the next page's cursor")] = None,
) -> None:
    """Incidents, newest first."""
    with open_incidents() as incidents:
        page = incidents.list(
            opened_from=_instant(opened_from, "from"),
            opened_to=_instant(opened_to, "to"),
            status=status,
            grade=parse_grade(grade) if grade else None,
            awaiting_review=awaiting_review,
            limit=limit,
            after=after,
        )
    table = Table("incident", "kind", "status", "opened (UTC)", "duration (s)", "grade", "summary")
    for i in page.incidents:
        duration = "-" if i.duration_s is None else str(i.duration_s)
        table.add_row(i.id, i.kind, i.status.value, _when(i.opened_at), duration, _grade(i),
                      i.summary)  # fmt: skip
    out.print(table)
    if page.next_cursor:
        out.print(f"next page: --after {page.next_cursor}")


@incidents_app.command("show")
def show_incident(incident_id: str) -> None:
    """An incident: impact, grades, review and timeline."""
    with open_incidents() as incidents:
        incident = incidents.get(incident_id)
    _print(incident)


@incidents_app.command("review")
def review_incident(
    incident_id: str,
    by: Annotated[str, typer.Option(help="who reviewed")],
    grade: Annotated[str | None, typer.Option(help="A-D; leave out to confirm")] = None,
    cause: Annotated[str | None, typer.Option()] = None,
    handling: Annotated[str | None, typer.Option()] = None,
    notes: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Grade a closed incident (again) and write its cause, handling and notes."""
    with open_incidents() as incidents:
        incident = incidents.review(
            incident_id, by=by, grade=grade, cause=cause, handling=handling, notes=notes
        )
    _print(incident)


def _print(i: Incident) -> None:
    impact = i.impact
    amounts = ", ".join(f"{c} {a}" for c, a in impact.amount_minor.items()) or "-"
    mismoved = ", ".join(f"{c} {a}" for c, a in impact.money_mismoved_minor.items()) or "-"
    summary = Table(title=i.id, show_header=False)
    for name, value in (
        ("key", i.key), ("kind", i.kind), ("severity", i.severity.value),
        ("status", i.status.value), ("summary", i.summary), ("opened (UTC)", _when(i.opened_at)),
        ("closed (UTC)", _when(i.closed_at)),
        ("duration (s)", "-" if i.duration_s is None else str(i.duration_s)),
        ("grade", _grade(i)), ("automatic grade", i.auto_grade.value),
        ("orders", str(impact.orders)), ("merchants", str(impact.merchants)),
        ("amount (minor units)", amounts), ("money mis-moved (minor units)", mismoved),
        ("failed checks", str(impact.checks_failed)),
        ("traffic share (ppm)", str(impact.traffic_share_ppm)),
        ("products", ", ".join(impact.products) or "-"),
        ("channels", ", ".join(impact.channels) or "-"),
        ("order kinds", ", ".join(impact.kinds) or "-"),
        ("cause", i.cause or "-"), ("handling", i.handling or "-"),
        ("review notes", i.review_notes or "-"),
        ("reviewed", f"{_when(i.reviewed_at)} by {i.reviewed_by}" if i.reviewed_by else "-"),
    ):  # fmt: skip
        summary.add_row(name, value)
    out.print(summary)
    timeline = Table("at (UTC)", "event", "text", title="timeline")
    for event in i.timeline:
        timeline.add_row(_when(event.at), event.kind, event.text)
    out.print(timeline)
