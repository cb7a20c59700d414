"""`paycore drill <name>`: reproduce one of the seed's incidents against the sandbox, on the
configured database, and show whether paycore caught it (ops/drills.py has the table).
Exit 1 when any expectation fails: an incident not opened in time, of another grade, not
closed, or an after-check (ledger, flows, finance, banks) that does not pass."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.markup import escape
from rich.table import Table

from paycore.commands import console
from paycore.ops.drills import DESCRIPTIONS, EXPECTATIONS, DrillName, Timeline

drill_app = typer.Typer(
    help="Drills: the seed's incidents reproduced against the sandbox and caught. A drill"
    " writes to the configured database (merchants, pay-ins, incidents, finance days it"
    " closes ahead of time on its own clock): run it on a sandbox database, never on"
    " production's.",
    no_args_is_help=True,
)


def expectations_table(name: DrillName) -> Table:
    table = Table(title=f"drill {name}: expected")
    for column in ("incident kind", "grade", "detected within"):
        table.add_column(column)
    for expected in EXPECTATIONS[name]:
        table.add_row(expected.kind, expected.grade.value, f"{expected.detect_within_s} s")
    return table


def timeline_table(timeline: Timeline) -> Table:
    """The drill's timeline: the fault, each incident, the recovery and the checks."""
    verdict = "[green]passed[/green]" if timeline.ok else "[red]FAILED[/red]"
    table = Table(title=f"drill {timeline.drill}: {verdict}")
    for column in ("step", "at", "what"):
        table.add_column(column)
    table.add_row("fault injected", _at(timeline.fault_at), "")
    for caught in timeline.caught:
        after_s = timeline.detected_after_s(caught)
        grade = caught.grade.value if caught.grade else "-"
        what = f"{caught.expected.kind} {caught.incident_id or 'NOT OPENED'} grade {grade}"
        if after_s is not None:
            what += f" (after {after_s} s, limit {caught.expected.detect_within_s} s;"
            what += f" condition since {_at(caught.opened_at)})"
        table.add_row("detected", _at(caught.detected_at), escape(what))
    table.add_row("recovered", _at(timeline.recovered_at), "")
    for caught in timeline.caught:
        table.add_row("incident closed", _at(caught.closed_at), caught.incident_id or "-")
    for check in timeline.verdicts:
        mark = "[green]ok[/green]" if check.ok else "[red]FAILED[/red]"
        table.add_row(f"check {check.check}", mark, escape(check.detail))
    for failure in timeline.failures:
        table.add_row("[red]failure[/red]", "", escape(failure))
    return table


def events_table(timeline: Timeline) -> Table:
    table = Table(title="events")
    table.add_column("at")
    table.add_column("event")
    for at, text in timeline.events:
        table.add_row(_at(at), escape(text))
    return table


def show(timeline: Timeline) -> None:
    console.print(expectations_table(timeline.drill))
    console.print(events_table(timeline))
    console.print(timeline_table(timeline))


def _at(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at is not None else "-"


def _command(name: DrillName) -> None:
    def command() -> None:
        from paycore.ops.drill_run import run_configured  # builds a Runtime: not at import

        timeline = run_configured(name)
        show(timeline)
        if not timeline.ok:
            raise typer.Exit(1)

    text = DESCRIPTIONS[name]
    command.__doc__ = f"{text[0].upper()}{text[1:]}. Exit 1 if an expectation fails."
    drill_app.command(name.value)(command)


for _name in DrillName:
    _command(_name)


@drill_app.command("all")
def run_all() -> None:
    """Every drill, one after another. Exit 1 if any expectation of any drill fails."""
    from paycore.ops.drill_run import run_configured

    failed = []
    for name in DrillName:
        timeline = run_configured(name)
        show(timeline)
        if not timeline.ok:
            failed.append(name.value)
    if failed:
        console.print(f"[red]drills failed:[/red] {', '.join(failed)}")
        raise typer.Exit(1)
