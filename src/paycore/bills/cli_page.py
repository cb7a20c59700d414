"""`paycore bills render`: the plain-language bill of a month, as HTML, PDF or JSON."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from paycore.bills.page_service import BillPages, render_html
from paycore.bills.pdf import render_pdf
from paycore.commands import open_runtime, refuse


class Format(StrEnum):
    HTML = "html"
    PDF = "pdf"
    JSON = "json"


class Lang(StrEnum):
    ZH = "zh"
    EN = "en"


def register(app: typer.Typer) -> None:
    """Add this file's commands to `paycore bills`."""
    app.command("render")(render)


def render(
    merchant: Annotated[str, typer.Option("--merchant", help="merchant id (mch_...)")],
    month: Annotated[str, typer.Option("--month", help="YYYY-MM, in China Standard Time")],
    lang: Annotated[Lang, typer.Option("--lang", help="zh (default) or en")] = Lang.ZH,
    format: Annotated[Format, typer.Option("--format", help="html, pdf or json")] = Format.HTML,
    owner: Annotated[str | None, typer.Option("--owner", help="one wallet owner's bill")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="write here (default: standard output)")
    ] = None,
) -> None:
    """Render a merchant's bill for a month: the page a shop owner reads."""
    if format is Format.PDF and out is None and sys.stdout.isatty():
        raise refuse("pdf_needs_out", "a PDF goes to a file (--out bill.pdf) or a pipe")
    with open_runtime(channels=False) as rt:
        view = BillPages(rt.bills, rt.merchants).view(
            merchant, month, owner_id=owner, lang=lang.value
        )
    if format is Format.JSON:
        content: bytes = (json.dumps(view.to_json(), ensure_ascii=False, indent=2) + "\n").encode()
    elif format is Format.PDF:
        content = render_pdf(render_html(view))
    else:
        content = render_html(view).encode()
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return
    out.write_bytes(content)
    typer.echo(f"{out}: {len(content)} bytes", err=True)
