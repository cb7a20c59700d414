"""How far behind finance is (what the "finance push behind" detector reads): finished
days not derived (a day the chart cannot map stays here, with why), vouchers waiting to be
pushed and for how long, vouchers refused, days that do not reconcile."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.finance.model import body_hash_of, voucher_body
from paycore.finance.receiver_client import ReceiverError
from paycore.finance.service import Finance
from paycore.runtime import Runtime
from tests.finance.conftest import SEEDED_DAY, Shop, after_day
from tests.finance.conftest_push import Harness, open_harness

AGE_S = 900


@pytest.fixture
def harness(runtime: Runtime, clock: ManualClock, tmp_path: Path) -> Iterator[Harness]:
    yield from open_harness(runtime.engine, clock, tmp_path)


@pytest.fixture
def finance(harness: Harness) -> Finance:
    return Finance(harness.engine, harness.clock, booked=harness.client().booked)


def test_nothing_is_behind_before_the_first_day_is_over(seeded_day: Shop, finance: Finance) -> None:
    found = finance.backlog(finance.clock.now())

    assert (found.finished_days_not_derived, found.oldest_underived_day) == (0, None)
    assert (found.vouchers_pending, found.vouchers_rejected, found.days_with_breaks) == (0, 0, 0)
    assert found.reasons(age_s=0) == []


def test_a_finished_day_shows_until_derived_then_its_vouchers_until_pushed(
    seeded_day: Shop, finance: Finance, harness: Harness
) -> None:
    after_day(finance.clock)  # 1 s after the derivation was due
    underived = finance.backlog(finance.clock.now())
    finance.derive_due()
    finance.clock.advance(AGE_S + 1)
    pending = finance.backlog(finance.clock.now())
    harness.relay().push_all()
    pushed = finance.backlog(finance.clock.now())

    assert (underived.finished_days_not_derived, underived.oldest_underived_day) == (1, SEEDED_DAY)
    assert underived.oldest_underived_age_s == 1
    assert (pending.finished_days_not_derived, pending.vouchers_pending) == (0, 6)
    assert pending.oldest_pending_age_s == AGE_S + 1
    assert pending.reasons(age_s=AGE_S) == [f"vouchers not pushed: 6, oldest {AGE_S + 1} s"]
    assert pending.reasons(age_s=AGE_S + 2) == []
    assert (pushed.vouchers_pending, pushed.oldest_pending_age_s) == (0, 0)


def test_a_day_the_chart_cannot_map_stays_behind_with_why_and_the_days_after_it_too(
    seeded_day: Shop, finance: Finance
) -> None:
    after_day(finance.clock)
    chart = finance.chart
    narrow = type(chart)(
        chart.accounts, {k: v for k, v in chart.by_ledger_code.items() if k != 4002}
    )
    strict = Finance(finance.engine, finance.clock, chart=narrow)
    with pytest.raises(Rejected):
        strict.derive_due()
    finance.clock.advance(2 * 86_400)

    found = strict.backlog(finance.clock.now())

    assert (found.finished_days_not_derived, found.oldest_underived_day) == (3, SEEDED_DAY)
    assert found.oldest_underived_age_s == 2 * 86_400 + 1
    assert "finance_code_unmapped" in found.derive_error and "4002" in found.derive_error
    [reason] = found.reasons(age_s=AGE_S)
    assert reason.startswith(f"finished days not derived: 3, oldest {SEEDED_DAY}")
    assert reason.endswith(found.derive_error)
    assert finance.backlog(finance.clock.now()).derive_error == ""  # another process's


def test_a_refused_voucher_and_the_day_it_breaks_show_until_resolved(
    seeded_day: Shop, finance: Finance, harness: Harness
) -> None:
    after_day(finance.clock)
    finance.derive_due()
    refund = voucher_body(finance.voucher("vch_20261130_refund_CNY").voucher)
    other = {**refund, "summary": "booked by hand"}
    harness.client().push({**other, "body_hash": body_hash_of(other)})
    harness.relay().push_all()
    before = finance.backlog(finance.clock.now())
    finance.reconcile_due()

    found = finance.backlog(finance.clock.now())

    assert (before.vouchers_rejected, before.days_with_breaks) == (1, 0)
    assert (found.vouchers_pending, found.vouchers_rejected, found.days_with_breaks) == (0, 1, 1)
    assert found.oldest_break_day == SEEDED_DAY
    assert found.reasons(age_s=AGE_S) == [
        "vouchers refused by the finance system: 1",
        f"days with breaks: 1, oldest {SEEDED_DAY}",
    ]
    assert found.view()["vouchers_rejected"] == 1


def test_a_day_whose_finance_system_could_not_answer_is_counted_apart(
    seeded_day: Shop, finance: Finance, harness: Harness
) -> None:
    after_day(finance.clock)
    finance.derive_due()
    harness.relay().push_all()
    finance.booked = _unreachable
    finance.reconcile_due()
    finance.clock.advance(timedelta(hours=1).total_seconds())

    found = finance.backlog(finance.clock.now())

    assert (found.days_with_breaks, found.days_receiver_unavailable) == (0, 1)
    assert found.reasons(age_s=AGE_S) == [
        f"days the finance system did not answer for: 1, oldest {SEEDED_DAY}"
    ]


def _unreachable(_day: date) -> dict[str, str]:
    raise ReceiverError("ConnectError: connection refused")
