"""`paycore h2h ...`: the host-to-host bank's files from a terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paycore.commands import console, err, open_runtime, print_json
from paycore.recon.h2h_service import h2h_channel, h2h_files

h2h_app = typer.Typer(
    help="Bank host-to-host (银企直连): pain.001 payout files out, pain.002 reports and "
    "camt.053 statements in.",
    no_args_is_help=True,
)


@h2h_app.command("export")
def export(
    channel: Annotated[str, typer.Argument(help="an h2h channel of PAYCORE_CHANNELS_FILE")],
    msg_id: Annotated[str | None, typer.Option(help="hand out this earlier file again")] = None,
    out: Annotated[Path | None, typer.Option(help="also copy the file here")] = None,
) -> None:
    """Put every waiting payout into a new pain.001 file (or hand out the last one again)."""
    with open_runtime() as rt:
        exported = h2h_files(rt).export(h2h_channel(rt.channels.registry, channel), msg_id=msg_id)
    if out is not None:
        out.write_bytes(exported.path.read_bytes())
    print_json(
        {
            "msg_id": exported.msg_id,
            "path": str(out or exported.path),
            "tx_count": exported.tx_count,
            "new": exported.new,
        }
    )


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
