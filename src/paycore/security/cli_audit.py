"""`paycore audit verify|list`: check the hash chain of the audit log, read its records.

Exit codes: 0 done (verify: the chain is intact), 1 the chain is broken (the first bad
seq is printed), 2 refused (the reason is printed on stderr)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security.audit import LIST_PAGE_MAX, parse_anchor
from paycore.security.crypto import load_field_cipher
from paycore.security.reveal import AuditLog

audit_app = typer.Typer(help="Verify and read the audit log of reveals.", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


@contextmanager
def open_audit_log(*, opens_reasons: bool) -> Iterator[AuditLog]:
    """`list` opens sealed reasons; `verify` needs no key at all (the chain hashes the
    tokens), so it runs where the field keys and the HSM are not reachable."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        cipher = load_field_cipher(settings).bind(engine) if opens_reasons else None
        yield AuditLog(engine, cipher=cipher)
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


@audit_app.command("verify")
def verify(
    anchor: Annotated[
        str | None,
        typer.Option(help="<seq>:<hash> printed by an earlier verify and kept elsewhere"),
    ] = None,
) -> None:
    """Walk the chain: every record follows the one before, and the head names the last."""
    with open_audit_log(opens_reasons=False) as audit:
        result = audit.verify(parse_anchor(anchor) if anchor else None)
    if result.broken is not None:
        out.print(f"[red]BROKEN[/red] at seq {result.broken.seq}: {result.broken.problem}")
        raise typer.Exit(1)
    out.print(f"intact: {result.head.seq} records")
    typer.echo(f"head {result.head.seq}:{result.head.hash}")


@audit_app.command("list")
def list_records(
    since: Annotated[
        datetime | None, typer.Option(help="records at or after this instant (UTC if no zone)")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="only this API key id's records")] = None,
    limit: Annotated[int, typer.Option(min=1, max=LIST_PAGE_MAX)] = 100,
) -> None:
    """Records oldest first: who revealed which fields of what, when and why."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    with open_audit_log(opens_reasons=True) as audit:
        records = audit.list(since=since, actor_key_id=actor, limit=limit)
    columns = ("seq", "at", "actor", "merchant", "action", "object", "fields", "reason", "request")
    table = Table(*columns)
    for record in records:
        entry = record.entry
        cells = (
            str(record.seq),
            entry.at.isoformat(timespec="seconds"),
            entry.actor_key_id,
            entry.merchant_id or "-",
            entry.action,
            f"{entry.object_type} {entry.object_id}",
            ",".join(entry.fields),
            entry.reason or "",
            entry.request_id,
        )
        # Text, not markup: a reason is free text and may hold brackets.
        table.add_row(*(Text(cell) for cell in cells))
    out.print(table)
