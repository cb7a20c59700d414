"""`paycore split ...`."""

from __future__ import annotations

import typer

split_app = typer.Typer(help="Split settlement (分账).", no_args_is_help=True)
