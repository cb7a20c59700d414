"""`paycore reports list | run NAME --month YYYY-MM`: the warehouse's SQL reports.

Exit codes: 0 written (and, where the report checks itself, equal to the journal);
1 written but its totals differ from the journal's (each day and amount on stderr);
2 refused (an unknown report, a bad month, engine or format, no warehouse).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from paycore.commands import err, refuse
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.warehouse import report_checks, reports
from paycore.warehouse.report_chart import chart_svg
from paycore.warehouse.report_outputs import FORMATS, csv_text, table_text, write_xlsx

reports_app = typer.Typer(help="SQL reports over the warehouse.", no_args_is_help=True)


@reports_app.command("list")
def list_reports() -> None:
    """Every report: its name, titles and whether it checks itself against the journal."""
    for name in reports.names():
        report = reports.load(name)
        checked = "checked" if report.checks else "-"
        chart = "chart" if report.chart else "-"
        sys.stdout.write(
            f"{name:<22} {checked:<8} {chart:<6} {report.title_zh} / {report.title_en}\n"
        )


@reports_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="a report, as `paycore reports list` names it")],
    month: Annotated[str, typer.Option(help="YYYY-MM, business days in Asia/Shanghai")],
    engine: Annotated[str, typer.Option(help="duckdb or spark")] = "duckdb",
    form: Annotated[str, typer.Option("--format", help="table, csv, xlsx or svg")] = "table",
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
    currency: Annotated[str | None, typer.Option(help="the chart's currency")] = None,
    warehouse: Annotated[Path | None, typer.Option(help="default: the configured one")] = None,
    check: Annotated[bool, typer.Option(help="compare the totals with the journal")] = True,
) -> None:
    """Run a report for a month and write it; then check its totals against the journal."""
    settings = Settings.from_env()
    try:
        report = reports.load(name)
        period = reports.parse_month(month)
        if form not in FORMATS:
            raise Rejected("unknown_format", f"{form!r}: one of {', '.join(FORMATS)}")
        if form == "xlsx" and out is None:
            raise Rejected("out_required", "an XLSX is written to a file: give --out")
        if form == "svg" and report.chart is None:
            raise Rejected("report_has_no_chart", f"{name}: use --format table, csv or xlsx")
        root = warehouse if warehouse is not None else settings.warehouse_path()
        table = reports.run_on(reports.open_warehouse(root, engine), report, period)
        _write(report, table, form, out, currency)
    except Rejected as error:
        raise refuse(error.code, error.detail) from None
    if not check or not report.checks:
        return
    mismatches = report_checks.check_with_ledger(report, table, period, settings.database_url)
    for m in mismatches:
        code = "" if m.account_code is None else f" account {m.account_code}"
        err.print(
            f"[red]check failed[/red] {m.column} {m.day.isoformat()} {m.currency}{code}: "
            f"report {m.report_amount}, journal {m.journal_amount}"
        )
    if mismatches:
        raise typer.Exit(1)
    err.print(f"checked against the journal: {len(report.checks)} totals per day agree")


def _write(
    report: reports.Report, table: pa.Table, form: str, out: Path | None, currency: str | None
) -> None:
    if form == "xlsx" and out is not None:
        write_xlsx(report, table, out)
    else:
        if form == "csv":
            text = csv_text(report, table)
        elif form == "svg":
            text = chart_svg(report, table, currency=currency)
        else:
            text = table_text(report, table)
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text, encoding="utf-8")
    if out is not None:
        err.print(f"wrote {out}")
