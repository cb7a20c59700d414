"""`paycore aml cases ...`: AML cases from the command line (an analyst with database and
field-key access, so notes are shown in clear).

Exit codes: 0 done, 2 refused (the code and reason on stderr).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from paycore.aml.cases import Cases, build_cases
from paycore.aml.cases_model import CASES_PAGE_DEFAULT, CASES_PAGE_MAX, Case, CaseStatus
from paycore.aml.service import score_warehouse
from paycore.aml.str_draft import markdown
from paycore.clock import SystemClock
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security.crypto import load_field_cipher

cases_app = typer.Typer(
    help="AML cases: list, read, investigate, report or dismiss; notes; the STR draft.",
    no_args_is_help=True,
)
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

Version = Annotated[int, typer.Option(min=1, help="the case's version as last read")]
Actor = Annotated[str, typer.Option(help="who acts (default cli:<login>)")]


@contextmanager
def open_service() -> Iterator[tuple[Cases, Settings]]:
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        clock = SystemClock()
        cipher = load_field_cipher(settings).bind(engine, clock=clock)
        yield build_cases(engine, cipher, clock, settings), settings
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {escape(exc.detail)}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


def _actor(actor: str) -> str:
    return actor or f"cli:{getpass.getuser()}"[:64]


def _summary(case: Case) -> str:
    who = case.assignee or "unassigned"
    return f"{case.id} {case.status.value} v{case.version} score {case.score} ({who})"


@cases_app.command("open")
def open_from_warehouse(
    period: Annotated[str, typer.Option(help="the scored period, e.g. 2026-11")],
    warehouse: Annotated[Path | None, typer.Option(help="default: the settings' warehouse")] = None,
) -> None:
    """Score the warehouse and open (or add to) a case for every alert; safe to repeat."""
    with open_service() as (cases, settings):
        scoring = score_warehouse(warehouse or settings.warehouse_path())
        opening = cases.open_cases(scoring.alerts, period=period)
    out.print(
        f"alerts {len(scoring.alerts)}: opened {len(opening.opened)}, added to"
        f" {len(opening.added)}, suppressed {opening.suppressed}, unchanged {opening.unchanged}"
    )


@cases_app.command("list")
def list_cases(
    status: Annotated[CaseStatus | None, typer.Option(help="open|investigating|...")] = None,
    subject: Annotated[str | None, typer.Option(help="a subject id")] = None,
    limit: Annotated[int, typer.Option(min=1, max=CASES_PAGE_MAX)] = CASES_PAGE_DEFAULT,
    after: Annotated[str | None, typer.Option(help="the next page's cursor")] = None,
) -> None:
    """Cases, newest first."""
    with open_service() as (cases, _settings):
        found = cases.list_cases(
            status=status.value if status else None, subject_id=subject, after=after, limit=limit
        )
    table = Table("case", "status", "v", "subject", "score", "typologies", "assignee", "opened")
    for c in found:
        table.add_row(
            c.id,
            c.status.value,
            str(c.version),
            escape(f"{c.subject_type}:{c.subject_id}"),
            str(c.score),
            ", ".join(c.typologies),
            escape(c.assignee or "-"),
            f"{c.opened_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)
    if len(found) == limit:
        out.print(f"next page: --after {found[-1].id}")


@cases_app.command("show")
def show(case_id: str) -> None:
    """The case, its reasons and its whole trail (notes opened)."""
    with open_service() as (cases, _settings):
        case = cases.get(case_id)
        events = cases.events(case_id, open_notes=True)
    out.print(escape(_summary(case)))
    out.print(escape(f"subject {case.subject_type}:{case.subject_id}"))
    out.print(f"typologies: {', '.join(case.typologies)}")
    for reason in case.reasons:
        out.print(
            escape(
                f"- [{reason['typology']} {reason['weight']}] {reason['words_en']}"
                f" / {reason['words_zh']} ({reason['transaction_count']} transactions)"
            )
        )
    for e in events:
        moved = (
            e.to_status
            if e.from_status in (None, e.to_status)
            else f"{e.from_status}->{e.to_status}"
        )
        line = f"#{e.seq} {e.at:%Y-%m-%d %H:%M:%S} {e.actor} {e.action} {moved}"
        if e.details:
            line += f" {json.dumps(dict(e.details), ensure_ascii=False, sort_keys=True)}"
        out.print(escape(line))
        if e.note:
            out.print(escape(f"    note: {e.note}"))


def _move(case_id: str, action: str, version: int, actor: str, note: str) -> None:
    with open_service() as (cases, _settings):
        case = cases.transition(case_id, action, version=version, actor=_actor(actor), note=note)
    out.print(escape(_summary(case)))


@cases_app.command("investigate")
def investigate(case_id: str, version: Version, note: str = "", actor: Actor = "") -> None:
    """open -> investigating."""
    _move(case_id, "investigate", version, actor, note)


@cases_app.command("report")
def report(case_id: str, version: Version, note: str = "", actor: Actor = "") -> None:
    """investigating -> reported (draft the STR first: `str --conclusion`)."""
    _move(case_id, "report", version, actor, note)


@cases_app.command("dismiss")
def dismiss(
    case_id: str,
    version: Version,
    note: Annotated[str, typer.Option(help="why (required)")],
    actor: Actor = "",
) -> None:
    """investigating -> dismissed, with the reason in a note."""
    _move(case_id, "dismiss", version, actor, note)


@cases_app.command("note")
def note(case_id: str, text: str, version: Version, actor: Actor = "") -> None:
    """Add a note (sealed at rest) to the case's trail."""
    with open_service() as (cases, _settings):
        case = cases.add_note(case_id, note=text, version=version, actor=_actor(actor))
    out.print(escape(_summary(case)))


@cases_app.command("assign")
def assign(case_id: str, assignee: str, version: Version, actor: Actor = "") -> None:
    with open_service() as (cases, _settings):
        case = cases.assign(case_id, assignee=assignee, version=version, actor=_actor(actor))
    out.print(escape(_summary(case)))


@cases_app.command("str")
def str_draft(
    case_id: str,
    conclusion: Annotated[str, typer.Option(help="draft anew with this conclusion")] = "",
    measures: Annotated[str, typer.Option(help="measures taken (with --conclusion)")] = "",
    version: Annotated[int, typer.Option(min=0, help="with --conclusion")] = 0,
    format: Annotated[str, typer.Option(help="md or json")] = "md",
    actor: Actor = "",
) -> None:
    """Print the latest STR draft; with --conclusion (and --version), draft a new one."""
    if format not in ("md", "json"):
        err.print("[red]error[/red] invalid_value: --format is md or json")
        raise typer.Exit(2)
    with open_service() as (cases, _settings):
        document: dict[str, Any]
        if conclusion:
            document = cases.draft_str(
                case_id,
                conclusion=conclusion,
                measures=measures,
                version=version,
                actor=_actor(actor),
            )
        else:
            document = cases.str_document(case_id)
    text = (
        markdown(document) if format == "md" else json.dumps(document, ensure_ascii=False, indent=2)
    )
    sys.stdout.write(text + "\n")
