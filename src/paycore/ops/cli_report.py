"""`paycore report weekly`: the seed's 【系统运行数据】 section, written from paycore's own data.

Exit codes: 0 written, 2 refused (a bad week, language or format)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from paycore.commands import err, open_runtime
from paycore.ops.report import reports_of

report_app = typer.Typer(help="Reports paycore writes about itself.", no_args_is_help=True)


@report_app.callback()
def report() -> None:
    """Reports paycore writes about itself (a group even with one command, so that
    `paycore report weekly` is spelt the same on its own)."""


class ReportFormat(enum.StrEnum):
    MD = "md"
    HTML = "html"
    JSON = "json"


class Lang(enum.StrEnum):
    ZH = "zh"
    EN = "en"


@report_app.command("weekly")
def weekly(
    week: Annotated[
        str | None,
        typer.Option(help="ISO week, 2026-W49 (Asia/Shanghai days); default: the last full week"),
    ] = None,
    form: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.MD,
    lang: Annotated[Lang, typer.Option()] = Lang.ZH,
    out: Annotated[Path | None, typer.Option(help="write here instead of to stdout")] = None,
) -> None:
    """Success rates against their SLOs, availability, the week's incidents and their
    grades, and the change from the week before (HTML: with the week's charts)."""
    with open_runtime(channels=False) as runtime:
        text = reports_of(runtime).page(week, form=form.value, lang=lang.value)
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text, encoding="utf-8")
    err.print(f"wrote {out}")
