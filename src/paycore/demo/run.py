"""`run_demo`: the whole demo, from an empty database to the summary."""

from __future__ import annotations

import os
import random
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from paycore.channels.config import DEFAULT_SANDBOX_URL
from paycore.demo import stage
from paycore.demo.bill import run_scene as bill_scene
from paycore.demo.customers import MERCHANTS, plan_payins
from paycore.demo.flows import MARKETPLACE_ID, show_flows
from paycore.demo.report import DemoReport, render
from paycore.demo.traffic import CALLBACKS_GRACE_S, Traffic
from paycore.errors import Rejected
from paycore.payments.model import Order, RateRow
from paycore.platform.config import Settings
from paycore.platform.db import upgrade
from paycore.runtime import Runtime

PAYINS_DEFAULT = 800
PAYINS_QUICK = 60
PAYINS_MAX = 20_000
THREADS_DEFAULT = 8
THREADS_MAX = 64
SETTLE_TIMEOUT_S = 60.0
"""Longest wait for the janitor to find every result: a few rounds of its schedule."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    payins: int = PAYINS_DEFAULT
    seed: int | None = None  # None: a new day every run
    threads: int = THREADS_DEFAULT
    bank_url: str = DEFAULT_SANDBOX_URL
    use_running_server: bool = True
    """Send callbacks to a paycore server answering at PAYCORE_PUBLIC_URL, if there is one;
    False: always start the demo's own callback server (tests)."""
    settle_timeout_s: float = SETTLE_TIMEOUT_S

    def __post_init__(self) -> None:
        if not 1 <= self.payins <= PAYINS_MAX:
            raise Rejected("demo_payins_out_of_range", f"--payins is 1..{PAYINS_MAX}")
        if not 1 <= self.threads <= THREADS_MAX:
            raise Rejected("demo_threads_out_of_range", f"--threads is 1..{THREADS_MAX}")


def run_demo(
    options: DemoOptions, *, settings: Settings | None = None, console: Console | None = None
) -> DemoReport:
    """Migrate, make sure a sandbox bank runs, run a day of traffic, print the summary."""
    settings = settings or Settings.from_env()
    console = console or Console()
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(10**6)
    started = time.monotonic()
    upgrade(settings.database_url)
    stage.check_running_bank(stage.bank_data_dir(settings), options.bank_url)
    with ExitStack() as stack:
        public_url, own_port = stage.callback_url(
            settings, use_running_server=options.use_running_server
        )
        with console.status("starting the sandbox bank and the callback server ..."):
            server_ready = None
            if own_port is not None:
                server = stage.callback_server(settings, port=own_port)
                server_ready = stack.enter_context(server)
            bank = stage.sandbox_bank(stage.bank_data_dir(settings), options.bank_url)
            started_bank = stack.enter_context(bank)
            if server_ready is not None:
                server_ready()
        runtime = stage.build_runtime(settings, bank_url=options.bank_url, public_url=public_url)
        stack.callback(runtime.close)  # its ledger writer, channels' connections, engine
        _say_where(console, options, started_bank=started_bank, own_server=own_port is not None)
        stage.ensure_merchants(runtime)
        keys = stage.issue_keys(runtime)
        traffic, orders = _day(runtime, options, seed, console)
        flow_problems = show_flows(runtime, console, bank_url=options.bank_url)
        bill, bill_problems = bill_scene(
            runtime,
            console,
            merchant_id=MARKETPLACE_ID,
            server_url=settings.public_url.rstrip("/"),
            server_running=own_port is None,
        )
        report = DemoReport(
            orders=orders,
            balances={m.id: runtime.payments.balances(m.id) for m in MERCHANTS},
            rates=_rates(runtime, traffic),
            ledger=runtime.ledger.check(),
            keys={**keys, MARKETPLACE_ID: bill.key} if bill else keys,
            refused=dict(traffic.refused),
            first_answers=dict(traffic.first_answers),
            errors=list(traffic.errors) + flow_problems + bill_problems,
            elapsed_s=time.monotonic() - started,
            server_url=settings.public_url.rstrip("/"),
            server_running=own_port is None,
            seed=seed,
            started_bank=started_bank,
            bill=bill,
        )
    render(console, report)
    return report


def _say_where(
    console: Console, options: DemoOptions, *, started_bank: bool, own_server: bool
) -> None:
    bank = "started for the demo" if started_bank else "already running"
    server = "started for the demo" if own_server else "already running"
    console.print(f"sandbox bank {bank} at {options.bank_url}; paycore server {server}")


def _day(
    runtime: Runtime, options: DemoOptions, seed: int, console: Console
) -> tuple[Traffic, list[Order]]:
    rng = random.Random(seed)
    plans = plan_payins(options.payins, rng)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<36}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        traffic = Traffic(
            runtime, run_tag=os.urandom(4).hex(), threads=options.threads, progress=progress
        )
        traffic.payins(plans)
        time.sleep(CALLBACKS_GRACE_S)  # most results arrive by callback within a second
        traffic.refunds(rng)
        traffic.payouts(rng, options.payins)
        orders = traffic.settle(timeout_s=options.settle_timeout_s)
    return traffic, orders


def _rates(runtime: Runtime, traffic: Traffic) -> list[RateRow]:
    ctx = runtime.payments.ctx
    first = ctx.business_date(traffic.started_at)
    last = ctx.business_date(runtime.clock.now() + timedelta(seconds=1))
    return runtime.payments.success_rates(date_from=first, date_to=last)
