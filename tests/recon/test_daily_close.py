"""The daily close: after a business day ends (and a grace period), each online channel's
statement is fetched, kept, imported and run, once."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from paycore.channels.model import ChannelUnavailable
from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.payments.model import Order
from paycore.recon.daily import GRACE_S, RETRY_S, DailyClose
from paycore.runtime import Runtime
from paycore.sandbox_bank import statement as bank_statement
from paycore.security import files
from tests.payments.fakes import ScriptedChannel
from tests.recon.conftest import pay

SHANGHAI = ZoneInfo("Asia/Shanghai")


def serve_statements(alpha: ScriptedChannel, orders: list[Order], fails: list[bool]) -> None:
    """Make the scripted channel serve its day like the sandbox bank does (or fail while
    `fails` says so)."""

    def fetch(day: date) -> bytes:
        if fails and fails[0]:
            raise ChannelUnavailable(alpha.name, "no statement for that day yet")
        lines = [
            bank_statement.StatementLine(
                finished_at=o.finished_at or o.created_at,
                bank_txn_no=o.channel_txn_id or "",
                reference=o.id,
                label="PAYIN",
                amount_minor=o.amount,
                fee_minor=o.fee_amount,
                currency=o.currency,
            )
            for o in orders
            if (o.finished_at or o.created_at).astimezone(SHANGHAI).date() == day
        ]
        return bank_statement.render_statement(lines, day, SHANGHAI)

    alpha.statement_format = "sandbox_csv"  # type: ignore[attr-defined]
    alpha.fetch_statement = fetch  # type: ignore[method-assign]


def after_midnight(clock: ManualClock, day: date, seconds: float) -> None:
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI)
    clock.advance((midnight - clock.now()).total_seconds() + seconds)


def test_each_day_is_closed_once_after_its_grace_period(
    runtime: Runtime, alpha: ScriptedChannel, clock: ManualClock, merchant_id: str, tmp_path: Path
) -> None:
    orders = [pay(runtime, alpha, merchant_id, amount=a, txn=f"T{a}") for a in (1_000, 2_500)]
    serve_statements(alpha, orders, fails=[])
    daily = DailyClose(runtime.recon, runtime.channels.registry, data_dir=tmp_path, clock=clock)
    day = clock.now().astimezone(SHANGHAI).date()

    [yesterday] = daily.tick()  # the day before had ended long ago: closed, empty
    after_midnight(clock, day, GRACE_S - 1)
    too_early = daily.tick()
    clock.advance(1)
    [closed] = daily.tick()
    again = daily.tick()

    assert yesterday.business_date == day - timedelta(days=1) and yesterday.run["lines"] == 0
    assert too_early == again == []
    assert (closed.channel, closed.business_date) == ("alpha", day)
    assert (closed.run["lines"], closed.run["matched"], closed.run["breaks_new"]) == (2, 2, 0)
    kept = tmp_path / "recon" / "alpha" / f"{day.isoformat()}.statement.enc"
    assert kept.is_file() and files.is_sealed(kept)  # it names payers: encrypted at rest


def test_a_statement_not_published_yet_is_asked_for_again_minutes_later_not_every_tick(
    runtime: Runtime,
    alpha: ScriptedChannel,
    clock: ManualClock,
    merchant_id: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    order = pay(runtime, alpha, merchant_id, amount=700, txn="T7")
    fails = [True]
    serve_statements(alpha, [order], fails)
    fetch, asked = alpha.fetch_statement, []

    def counted(day: date) -> bytes:
        asked.append(day)
        return fetch(day)

    alpha.fetch_statement = counted  # type: ignore[method-assign]
    daily = DailyClose(runtime.recon, runtime.channels.registry, data_dir=tmp_path, clock=clock)
    day = clock.now().astimezone(SHANGHAI).date()
    after_midnight(clock, day, GRACE_S)
    health_before = runtime.channels.registry.health("alpha").snapshot()

    with caplog.at_level(logging.WARNING, logger="paycore.recon.daily"):
        first = daily.tick()
    fails[0] = False
    clock.advance(RETRY_S - 1)
    too_soon = daily.tick()
    asked_before_retry = len(asked)
    clock.advance(1)
    [closed] = daily.tick()

    assert first == too_soon == [] and "not closed yet" in caplog.text
    assert asked_before_retry == 1  # not again on the tick before RETRY_S
    assert closed.business_date == day and closed.run["matched"] == 1
    assert runtime.channels.registry.health("alpha").snapshot() == health_before


def test_a_day_is_not_closed_before_it_ends_nor_for_a_channel_without_online_statements(
    runtime: Runtime, alpha: ScriptedChannel, clock: ManualClock, tmp_path: Path
) -> None:
    daily = DailyClose(runtime.recon, runtime.channels.registry, data_dir=tmp_path, clock=clock)
    today = clock.now().astimezone(SHANGHAI).date()

    with pytest.raises(Rejected) as offline:
        daily.close_day("alpha", today - timedelta(days=1))
    serve_statements(alpha, [], fails=[])
    with pytest.raises(Rejected) as early:
        daily.close_day("alpha", today)

    assert offline.value.code == "no_online_statement"
    assert early.value.code == "business_day_not_ended"
    assert daily.online() == {"alpha": "sandbox_csv"}


def test_a_run_of_today_so_far_does_not_stop_the_day_from_being_closed_after_it_ends(
    runtime: Runtime, alpha: ScriptedChannel, clock: ManualClock, merchant_id: str, tmp_path: Path
) -> None:
    early = pay(runtime, alpha, merchant_id, amount=1_000, txn="E1")
    orders = [early]
    serve_statements(alpha, orders, fails=[])
    daily = DailyClose(runtime.recon, runtime.channels.registry, data_dir=tmp_path, clock=clock)
    day = clock.now().astimezone(SHANGHAI).date()
    daily.tick()  # the day before
    intraday = tmp_path / "intraday.statement"
    intraday.write_bytes(alpha.fetch_statement(day))
    runtime.recon.import_file(intraday, format="sandbox_csv", source="alpha")
    runtime.recon.run(source="alpha", business_date=day)  # today so far, as the demo does
    orders.append(pay(runtime, alpha, merchant_id, amount=2_000, txn="E2"))  # later that day

    after_midnight(clock, day, GRACE_S)
    [closed] = daily.tick()

    assert closed.business_date == day
    assert (closed.run["lines"], closed.run["matched"], closed.run["breaks_new"]) == (2, 2, 0)
