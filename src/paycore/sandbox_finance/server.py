"""Run the receiver inside this process, for tests and drills:

    with run_receiver(ReceiverConfig(data_dir=tmp_path, seed=7)) as base_url:
        client = FinanceReceiverClient(base_url, secret=read_secret(tmp_path))

A real HTTP server (uvicorn in a thread, a free 127.0.0.1 port), so timeouts and slow
answers behave as over the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paycore.clock import Clock
from paycore.sandbox_bank.server import serve_app
from paycore.sandbox_finance.api import create_finance_app
from paycore.sandbox_finance.service import ReceiverConfig


@contextmanager
def run_receiver(
    config: ReceiverConfig, *, port: int = 0, clock: Clock | None = None
) -> Iterator[str]:
    """The receiver serving until the block ends; yields its base URL."""
    with serve_app(create_finance_app(config, clock=clock), port=port) as base_url:
        yield base_url
