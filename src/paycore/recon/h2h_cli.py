"""`paycore h2h ...`: the host-to-host bank's files from a terminal.

A pain.001 is kept sealed in the channel's files_dir; `export --out FILE` is the hand-over
in clear (the bank's portal takes it), so, as `pii:reveal` on the API, it needs a reason
and writes one audit record (`cli:<user>`); FILE is new and owner-only."""

from __future__ import annotations

import getpass
import os
import uuid
from pathlib import Path
from typing import Annotated

import typer

from paycore.commands import console, err, open_runtime, print_json
from paycore.errors import Rejected
from paycore.recon.h2h_outbound import PAYOUT_FILE_FIELDS
from paycore.recon.h2h_service import h2h_channel, h2h_files
from paycore.security.audit import AuditAction, check_reason
from paycore.security.model import Principal, Scope

h2h_app = typer.Typer(
    help="Bank host-to-host (银企直连): pain.001 payout files out, pain.002 reports and "
    "camt.053 statements in.",
    no_args_is_help=True,
)


@h2h_app.command("export")
def export(
    channel: Annotated[str, typer.Argument(help="an h2h channel of PAYCORE_CHANNELS_FILE")],
    msg_id: Annotated[str | None, typer.Option(help="hand out this earlier file again")] = None,
    out: Annotated[
        Path | None, typer.Option(help="write the clear XML here (a new file; needs --reason)")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="why a person takes the payees' data: 10-500, audited")
    ] = None,
) -> None:
    """Put every waiting payout into a new pain.001 file (or hand out the last one again).
    The file is kept sealed; `--out` writes it in clear for the bank."""
    with open_runtime() as rt:
        if out is not None:  # refused before anything is exported, as on the API
            check_reason(reason)
            if out.exists():
                raise Rejected("file_exists", f"{out} exists: give a new file")
        files = h2h_files(rt)
        exported = files.export(h2h_channel(rt.channels.registry, channel), msg_id=msg_id)
        if out is not None:
            content = files.open_file(exported)
            rt.reveals.disclose(
                _operator(),
                action=AuditAction.H2H_FILE,
                object_type="h2h_file",
                object_id=exported.msg_id,
                fields=PAYOUT_FILE_FIELDS,
                reason=reason,
                request_id=f"cli-{uuid.uuid4().hex}",
            )
            _write_private(out, content)
    print_json(
        {
            "msg_id": exported.msg_id,
            "path": str(out or exported.path),
            "tx_count": exported.tx_count,
            "new": exported.new,
        }
    )


def _operator() -> Principal:
    """Whoever runs the command on the platform's host (as security/cli_subjects.py)."""
    return Principal(
        key_id=f"cli:{getpass.getuser()}"[:64],
        merchant_id=None,
        scopes=frozenset({Scope.ADMIN, Scope.PII_REVEAL}),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Owner-only and never over an existing file: it names payees and their accounts."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Rejected("file_exists", f"{path} exists: give a new file") from None
    with os.fdopen(fd, "wb") as file:
        file.write(data)


@h2h_app.command("status")
def status(
    report: Annotated[Path, typer.Argument(help="a pain.002.001.03 status report", exists=True)],
) -> None:
    """Apply the bank's status report: settle accepted payouts, fail rejected ones."""
    with open_runtime() as rt:
        outcome = h2h_files(rt).apply_status_report(report)
    if outcome.unknown:
        console.print(f"[yellow]{len(outcome.unknown)} unknown EndToEndId(s)[/yellow]")
    print_json(outcome.view())


@h2h_app.command("inbox")
def inbox(
    channel: Annotated[str, typer.Argument(help="an h2h channel of PAYCORE_CHANNELS_FILE")],
) -> None:
    """Apply every whole file in the channel's files_dir/inbound/ (pain.002, camt.053/054)
    and move it to processed/ or rejected/, as the server does on every tick."""
    with open_runtime() as rt:
        items = rt.recon_daily.inbox.collect(h2h_channel(rt.channels.registry, channel))
    rejected = sum(1 for item in items if item.moved_to == "rejected")
    if rejected:
        err.print(f"[yellow]{rejected} file(s) rejected: see their .error.txt[/yellow]")
    print_json({"files": [item.view() for item in items]})
