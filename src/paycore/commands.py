"""What every slice's CLI shares: a Runtime per command, refusals, JSON output.

Exit codes: 0 done, 2 refused (the code and the reason are printed on stderr).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from paycore.channels.config import Channels, load_channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Router
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.security.crypto import CipherError
from paycore.text import text_problem

if TYPE_CHECKING:
    from paycore.runtime import Runtime

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class TextArguments(TyperGroup):
    """The root command: every argument of every command (names, notes, references, ids)
    is text paycore can store, checked once here before any command runs (PostgreSQL
    cannot store a NUL; other control characters forge log lines)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        for position, argument in enumerate(args, start=1):
            problem = text_problem(argument)
            if problem is not None:
                raise refuse("invalid_text", f"argument {position}: {problem}")
        return super().parse_args(ctx, args)


def refuse(code: str, detail: str) -> typer.Exit:
    # A detail may quote a file's cell: "[/x]" in it is text, not rich markup to fail on.
    err.print(f"[red]refused[/red] {escape(code)}: {escape(detail)}")
    return typer.Exit(2)


def load_channels_for(settings: Settings, *, needed: bool) -> Channels:
    if not needed:
        registry = ChannelRegistry()
        return Channels(registry, Router(registry, []))
    try:
        return load_channels(settings)
    except Rejected as error:
        raise refuse(error.code, error.detail) from None
    except OSError as error:  # a channel's key file is missing or unreadable
        raise refuse(
            "invalid_channel_config",
            f"{error.filename}: {error.strerror} (start `paycore sandbox-bank` once to create "
            "its keys, or name your channels in PAYCORE_CHANNELS_FILE)",
        ) from None


@contextmanager
def open_runtime(*, channels: bool = True) -> Iterator[Runtime]:
    """Every service, for one command; `channels=False` for commands that only read.
    A `Rejected` inside becomes a refusal with exit code 2."""
    from paycore.runtime import Runtime

    settings = Settings.from_env()
    loaded = load_channels_for(settings, needed=channels)
    try:
        runtime = Runtime.build(settings, channels=loaded)
    except CipherError as error:
        raise refuse("invalid_field_keys", str(error)) from None
    try:
        yield runtime
    except Rejected as error:
        raise refuse(error.code, error.detail) from None
    finally:
        runtime.close()  # also releases the channels' connections and the engine


def print_json(view: dict[str, Any]) -> None:
    console.print_json(json.dumps(view, ensure_ascii=False, default=str))
