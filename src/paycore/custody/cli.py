"""`paycore custody ...`."""

from __future__ import annotations

import typer

custody_app = typer.Typer(help="Bank custody (资金存管).", no_args_is_help=True)
