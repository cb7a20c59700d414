"""The landing sweep's mark: moved on when pay-ins were found, else at most once a minute.

The flows thread sweeps every 2 s; writing the mark each time was a write transaction every
2 s on an idle server. Re-reading a minute more than the overlap is harmless."""

from __future__ import annotations

from datetime import datetime

from paycore.custody import store_runs
from paycore.custody.landing import SWEEP_NAME
from paycore.payments.model import OrderStatus
from tests.custody.conftest import Desk


def mark(desk: Desk) -> datetime | None:
    with desk.runtime.engine.connect() as conn:
        return store_runs.swept_until(conn, SWEEP_NAME)


def sweep(desk: Desk) -> None:
    desk.runtime.custody._landing.sweep()


def test_the_first_sweep_sets_the_mark_even_when_it_finds_nothing(desk: Desk) -> None:
    assert mark(desk) is None
    sweep(desk)
    assert mark(desk) is not None


def test_an_idle_sweep_leaves_the_mark_until_a_minute_has_passed(desk: Desk) -> None:
    sweep(desk)
    first = mark(desk)

    desk.clock.advance(59)
    sweep(desk)
    unchanged = mark(desk)
    desk.clock.advance(2)
    sweep(desk)

    assert unchanged == first
    assert first is not None and mark(desk) != first


def test_a_sweep_that_finds_a_pay_in_moves_the_mark_at_once(desk: Desk) -> None:
    sweep(desk)
    first = mark(desk)
    desk.clock.advance(5)
    payin = desk.pay("buyer-1", 10_000)
    assert (
        desk.runtime.payments.get(merchant_id=desk.merchant_id, order_id=payin).status
        is OrderStatus.SUCCEEDED
    )

    sweep(desk)

    assert first is not None and mark(desk) != first
