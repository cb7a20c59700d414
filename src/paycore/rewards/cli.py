"""`paycore rewards ...`."""

from __future__ import annotations

import typer

rewards_app = typer.Typer(help="Cash rewards (现金奖励).", no_args_is_help=True)
