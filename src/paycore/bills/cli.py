"""`paycore bills`: statements, their proof against the journal, month close."""

from __future__ import annotations

import typer

from paycore.bills import cli_export, cli_page

bills_app = typer.Typer(help="Merchant statements, bills and exports.", no_args_is_help=True)

cli_page.register(bills_app)
cli_export.register(bills_app)
