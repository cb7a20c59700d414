"""`paycore demo` (registered by paycore.cli)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from paycore.channels.config import DEFAULT_SANDBOX_URL


def demo(
    payins: Annotated[int, typer.Option(min=1, help="pay-ins in the day of traffic")] = 800,
    seed: Annotated[
        int | None, typer.Option(help="repeat a day exactly (default: a new day)")
    ] = None,
    quick: Annotated[bool, typer.Option(help="a small run (60 pay-ins, 4 threads)")] = False,
    threads: Annotated[int, typer.Option(min=1, help="orders sent at once")] = 8,
    bank_url: Annotated[
        str, typer.Option(help="the sandbox bank; started here if nothing answers")
    ] = DEFAULT_SANDBOX_URL,
    own_server: Annotated[
        bool,
        typer.Option(
            help="serve callbacks from this process even if a paycore server answers at "
            "PAYCORE_PUBLIC_URL"
        ),
    ] = False,
) -> None:
    """Run the sandbox bank and a day of mixed traffic (pay-ins, refunds, payouts with
    declines, timeouts, unknown results and duplicated callbacks), then show orders,
    wallet balances, success rates, the ledger check, the marketplace's bill of the month
    (proved, and written as HTML and PDF) and API keys to try the HTTP API."""
    from rich.console import Console

    from paycore.demo.run import PAYINS_QUICK, DemoOptions, run_demo
    from paycore.errors import Rejected

    # Channel timeouts and unknown results are part of the day; the summary counts them.
    logging.getLogger("paycore").setLevel(logging.ERROR)
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        options = DemoOptions(
            payins=PAYINS_QUICK if quick else payins,
            seed=seed,
            threads=min(threads, 4) if quick else threads,
            bank_url=bank_url.rstrip("/"),
            use_running_server=not own_server,
        )
        report = run_demo(options, console=console)
    except Rejected as error:
        console.print(f"[red]refused[/red] {error.code}: {error.detail}")
        raise typer.Exit(2) from None
    if report.unresolved or report.errors or not report.ledger.ok:
        raise typer.Exit(1)
