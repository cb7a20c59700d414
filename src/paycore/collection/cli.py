"""`paycore collection ...`."""

from __future__ import annotations

import typer

collection_app = typer.Typer(help="Recurring collection plans (代收).", no_args_is_help=True)
