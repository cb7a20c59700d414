"""`paycore demo`'s reconciliation scene (对账): today's statement of the sandbox bank
against what paycore recorded, and one break worked to its resolution.

To have a break worth showing, a payer first pays the bank directly, with a reference
paycore never issued (as at a bank counter): the bank's statement then shows money with
no order, a `missing_on_our_side` line booked to suspense, which the scene resolves with a
note. The day before is closed first if the server's flows worker has not done it (a
demo's own callback server runs without workers), so today's run does not count
yesterday's orders as missing from the bank.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from paycore.channels.model import ChannelStatus, Operation, Payer, PayinRequest
from paycore.money import format_minor
from paycore.recon.breaks import BreakType
from paycore.recon.daily import keep_statement, readable_statement
from paycore.recon.model import business_date_of
from paycore.runtime import Runtime

WALK_IN_AMOUNT = 8_888  # 88.88 CNY, paid at the bank with a reference paycore never issued
WALK_IN_CARD = "6222020200112233446"  # Luhn-valid: the bank declines others
BREAKS_PAGE = 500
WAIT_S = 20.0
"""Longest wait for the bank to finish the walk-in pay-in."""
RESOLUTION_NOTE = (
    "paid at the bank counter with no order: the payer's money is returned from suspense "
    "by the bank's desk (ticket DEMO-1)"
)


def show(runtime: Runtime, console: Console, merchant_id: str) -> None:
    online = runtime.recon_daily.online()
    if not online:
        console.print("reconciliation: no channel serves statements online")
        return
    channel, statement_format = sorted(online.items())[0]
    runtime.recon_daily.tick()  # yesterday's close, if nobody has done it yet
    walk_in = _paid_behind_our_back(runtime, channel)
    today = business_date_of(runtime.clock.now())
    path = _fetch_today(runtime, channel)
    with readable_statement(path, runtime.recon.cipher) as clear:
        imported, _new = runtime.recon.import_file(clear, format=statement_format, source=channel)
    run = runtime.recon.run(source=channel, business_date=today)
    console.print(_run_table(run, channel))
    found = _break_of(runtime, channel, str(imported["id"])) if walk_in else None
    if found is None:
        console.print("reconciliation: the bank did not finish the walk-in pay-in in time")
        return
    amount = format_minor(found["line_amount"], found["currency"])
    console.print(
        f"break {found['id']} {found['type']}: {amount} on the statement with no order "
        f"({walk_in}), booked to suspense as {found['suspense_transfer_id']}"
    )
    resolved = runtime.recon.resolve(found["id"], actor="demo", note=RESOLUTION_NOTE)
    console.print(f"break {found['id']} {resolved['status']}: {resolved['note']}")


def _paid_behind_our_back(runtime: Runtime, channel: str) -> str | None:
    """A pay-in made at the bank through its signed API, not through paycore's orders;
    its reference once the bank says it succeeded, else None."""
    adapter = runtime.channels.registry.get(channel)
    reference = f"walkin_{os.urandom(6).hex()}"
    answer = adapter.pay_in(
        PayinRequest(
            reference=reference,
            amount_minor=WALK_IN_AMOUNT,
            currency="CNY",
            payer=Payer(card_number=WALK_IN_CARD, name="Walk-in Payer"),
            description="paid at the bank counter",
            expires_at=runtime.clock.now() + timedelta(minutes=30),
            # The bank calls back as for any pay-in; paycore answers that it has no such order.
            notify_url=runtime.payments.ctx.notify_url(channel),
        )
    )
    deadline = time.monotonic() + WAIT_S
    while answer.status is ChannelStatus.PROCESSING and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = adapter.query(Operation.PAYIN, reference)
    return reference if answer.status is ChannelStatus.SUCCEEDED else None


def _fetch_today(runtime: Runtime, channel: str) -> Path:
    """Today's statement so far, kept beside the daily close's files under its own name."""
    now = runtime.clock.now()
    body = runtime.channels.registry.get(channel).fetch_statement(business_date_of(now))
    folder = Path(runtime.settings.data_dir) / "recon" / channel
    name = f"{business_date_of(now).isoformat()}.demo-{now:%H%M%S}.statement"
    return keep_statement(folder, name, body, runtime.recon.cipher)


def _run_table(run: dict[str, Any], channel: str) -> Table:
    table = Table(title=f"reconciliation of {channel}, {run['business_date']} so far")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("statement lines of the day", str(run["lines"]))
    for name in ("matched", "waiting"):
        table.add_row(f"{name}", str(run[name]))
    for kind, count in sorted(run["breaks_by_type"].items()):
        table.add_row(f"break: {kind}", str(count))
    table.add_row("breaks, all new", str(run["breaks_new"]))
    return table


def _break_of(runtime: Runtime, channel: str, import_id: str) -> dict[str, Any] | None:
    """The walk-in pay-in's break: money with no order on this import, of its amount."""
    after = None
    while True:
        page = runtime.recon.list_breaks(
            status="open",
            type_=BreakType.MISSING_ON_OUR_SIDE.value,
            source=channel,
            limit=BREAKS_PAGE,
            after=after,
        )
        for found in page:
            if found["import_id"] == import_id and found["line_amount"] == WALK_IN_AMOUNT:
                return runtime.recon.get_break(int(found["id"]))
        if len(page) < BREAKS_PAGE:
            return None
        after = int(page[-1]["id"])
