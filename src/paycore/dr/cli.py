"""`paycore dr backup | restore-check`: disaster recovery from the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from paycore.clock import SystemClock
from paycore.dr.model import Manifest, RestoreReport, Target
from paycore.dr.service import DisasterRecovery
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.security.crypto import load_field_cipher

dr_app = typer.Typer(help="Disaster recovery: backups and restore-checks.", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@contextmanager
def _service() -> Iterator[DisasterRecovery]:
    settings = Settings.from_env()
    with err.status("starting") as status:

        def progress(step: str) -> None:
            status.update(step)
            err.log(step)

        try:
            yield DisasterRecovery(
                source_url=settings.database_url,
                clock=SystemClock(),
                progress=progress,
                # The static-key cipher, never bound: see DisasterRecovery.
                cipher=load_field_cipher(settings),
            )
        except Rejected as exc:
            err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
            # A sealed file that does not open is a failed check (1), like a differing
            # digest; anything else means the backup could not be used (2).
            raise typer.Exit(1 if exc.code == "file_tampered" else 2) from exc


@dr_app.command("backup")
def backup(
    to: Annotated[Path, typer.Option("--to", help="a new or empty folder")],
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt/--no-encrypt",
            help="seal every data file (the default); --no-encrypt: a clear backup on purpose",
        ),
    ] = True,
) -> None:
    """Back up the database (SQLite: the online backup API; PostgreSQL: pg_basebackup and
    the WAL streamed by pg_receivewal up to a named restore point) with a manifest."""
    with _service() as dr:
        manifest = dr.backup(to, encrypt=encrypt)
    _print_manifest(manifest, to)


@dr_app.command("restore-check")
def restore_check(
    from_: Annotated[Path, typer.Option("--from", help="a folder `dr backup` wrote")],
    target_time: Annotated[
        datetime | None, typer.Option(help="PostgreSQL: recover to this instant instead")
    ] = None,
    target_lsn: Annotated[str | None, typer.Option(help="PostgreSQL: recover to this LSN")] = None,
    source: Annotated[
        bool, typer.Option(help="also compare with the live database (PAYCORE_DATABASE_URL)")
    ] = True,
) -> None:
    """Restore the backup into a fresh database, run every check on it and prove it equals
    the source at the backup's point; exits 1 on any mismatch, naming it."""
    with _service() as dr:
        report = dr.restore_check(
            from_, target=Target(time=target_time, lsn=target_lsn), compare_source=source
        )
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_manifest(manifest: Manifest, to: Path) -> None:
    table = Table("backup", str(to), title=f"{manifest.kind.value} backup", show_header=False)
    table.add_row("source", manifest.source_url)
    table.add_row("journal point", f"seq {manifest.point.seq}")
    if manifest.point.lsn:
        table.add_row("restore point", f"{manifest.point.restore_point} at {manifest.point.lsn}")
    table.add_row("entries", f"{manifest.fingerprint.entries.rows:,}")
    table.add_row("transfers", f"{manifest.fingerprint.transfers.rows:,}")
    sealed = manifest.sealed
    if sealed is not None:
        mb = sealed.clear_bytes / 1e6
        rate = f", {mb / sealed.seconds:,.0f} MB/s" if sealed.seconds else ""
        took = f"{sealed.seconds:.2f} s{rate}"
        table.add_row("sealed", f"{sealed.files:,} files, {mb:,.1f} MB in {took}")
    else:
        table.add_row("sealed", "[yellow]no: a clear backup (--no-encrypt)[/yellow]")
    table.add_row("took", f"{manifest.took_s:.2f} s")
    out.print(table)


def _print_report(report: RestoreReport) -> None:
    table = Table("step", "seconds", "rows", "verdict", "detail", title="restore-check")
    for step in report.steps:
        verdict = "[green]ok[/green]" if step.ok else "[red]MISMATCH[/red]"
        table.add_row(step.name, f"{step.seconds:.2f}", f"{step.rows:,}", verdict, step.detail)
    out.print(table)
    out.print(
        f"restore {report.restore_s:.2f} s, checks {report.check_s:.2f} s, CPU "
        f"{report.cpu_s:.2f} s here + {report.server_cpu_s:.2f} s server; "
        f"restored journal ends at seq {report.restored_seq}"
    )
    for mismatch in report.mismatches:
        err.print(f"[red]mismatch[/red] {mismatch}")
    if report.ok:
        out.print("[green]the restored ledger passes every check and equals the source[/green]")
