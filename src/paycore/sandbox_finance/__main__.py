"""`python -m paycore.sandbox_finance [--port ...]`: the receiver without the paycore CLI
(the launcher starts it this way, so it needs nothing registered in paycore.cli)."""

from __future__ import annotations

import typer

from paycore.platform.lifeline import stop_with_parent
from paycore.sandbox_finance.cli import serve_finance


def main() -> None:
    stop_with_parent()  # a no-op unless a paycore process started this one
    typer.run(serve_finance)


if __name__ == "__main__":
    main()
