"""`paycore slo status|availability|rules`: the SLOs, their burn and the probes' availability
from a terminal (the same calls as GET /v1/ops/slos and /v1/ops/availability).

Exit codes: 0 done, 2 refused (the code and the reason on stderr)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from paycore.commands import console, open_runtime, print_json, refuse
from paycore.errors import Rejected
from paycore.ops.alerts import BurnRateAlerts, window_label
from paycore.ops.availability import period_of
from paycore.ops.rules import write_rules
from paycore.ops.slo import SloConfig, burn_rate, load_config

slo_app = typer.Typer(help="SLOs, burn-rate alerts and availability.", no_args_is_help=True)

SloFile = Annotated[
    str,
    typer.Option(
        "--slo-file", envvar="PAYCORE_SLO_FILE", help="SLO configuration (JSON); default: built in"
    ),
]


def _config(path: str) -> SloConfig:
    try:
        return load_config(path or None)
    except Rejected as error:
        raise refuse(error.code, error.detail) from None


@contextmanager
def _alerts(path: str) -> Iterator[BurnRateAlerts]:
    config = _config(path)
    with open_runtime(channels=False) as runtime:
        yield BurnRateAlerts(runtime.engine, runtime.clock, config)


@slo_app.command("status")
def status(slo_file: SloFile = "") -> None:
    """Each SLO's target, burn rate per window, and the alerts firing now."""
    with _alerts(slo_file) as alerts:
        statuses = alerts.status()
        firing = {(r["slo"], r["window"]) for r in alerts.firing()}
        windows = alerts.config.durations_s()
    table = Table(title="SLOs: burn rate per window (1 = spending exactly the budget)")
    table.add_column("slo")
    table.add_column("target", justify="right")
    for seconds in windows:
        table.add_column(window_label(seconds), justify="right")
    table.add_column("firing")
    for found in statuses:
        slo = found.slo
        burns = [f"{float(burn_rate(found.counts[s], slo)):.2f}" for s in windows]
        pairs = [v.pair.name for v in found.verdicts if (slo.name, v.pair.name) in firing]
        table.add_row(slo.name, f"{slo.target_ppm / 10_000:g}%", *burns, " ".join(pairs))
    console.print(table)


@slo_app.command("availability")
def availability(
    date_from: Annotated[
        str | None, typer.Option("--from", help="ISO 8601 instant; default 7 days ago")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="ISO 8601 instant; default now")
    ] = None,
) -> None:
    """Probes that worked over probes made, per target and overall (JSON, as the API)."""
    with open_runtime(channels=False) as runtime:
        alerts = BurnRateAlerts(runtime.engine, runtime.clock)
        try:
            start, end = period_of(date_from, date_to, now=runtime.clock.now())
            found = alerts.availability(start=start, end=end)
        except Rejected as error:
            raise refuse(error.code, error.detail) from None
    print_json(found.as_dict())


@slo_app.command("rules")
def rules(
    out: Annotated[Path, typer.Option("--out", help="where to write the rules file")],
    slo_file: SloFile = "",
) -> None:
    """Write the Prometheus rules file (recording and multi-window alert rules)."""
    write_rules(_config(slo_file), out)
    console.print(f"wrote {out}")
