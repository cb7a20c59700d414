"""Closed bill days are rolled up once, and a statement read from them equals the journal."""

from __future__ import annotations

from datetime import UTC, date, datetime

from paycore.bills.model import period_of
from paycore.bills.service import Bills
from tests.bills.conftest import Shop


def raw_and_rolled(bills: Bills, merchant_id: str, label: str) -> tuple[object, object]:
    with bills.engine.connect() as conn:
        raw = bills.statement_on(conn, merchant_id, period_of(label), None, rollups=False)
        rolled = bills.statement_on(conn, merchant_id, period_of(label), None, rollups=True)
    return raw.accounts, rolled.accounts


def test_only_finished_days_are_closed_and_a_second_run_closes_nothing(
    billed_merchant: Shop,
) -> None:
    bills = billed_merchant.runtime.bills
    closed = bills.close_days()

    # The clock is at 18:00 on 30 November in Shanghai: the 30th is not over.
    assert closed[0] == date(2026, 10, 1)
    assert closed[-1] == date(2026, 11, 29)
    assert len(closed) == 60
    assert bills.close_days() == []


def test_a_day_is_closed_only_a_grace_after_it_ends(billed_merchant: Shop) -> None:
    bills = billed_merchant.runtime.bills
    billed_merchant.at(datetime(2026, 11, 30, 16, 0, 30, tzinfo=UTC))  # 30 s after midnight
    assert bills.close_days()[-1] == date(2026, 11, 29)
    billed_merchant.at(datetime(2026, 11, 30, 16, 1, 1, tzinfo=UTC))
    assert bills.close_days() == [date(2026, 11, 30)]


def test_statements_from_rollups_equal_statements_from_raw_entries(billed_merchant: Shop) -> None:
    bills = billed_merchant.runtime.bills
    bills.close_days(until=date(2026, 11, 5))
    for label in ("2026-10", "2026-11", "2026-10-31", "2026-11-01", "2026-11-10", "2026-12"):
        raw, rolled = raw_and_rolled(bills, billed_merchant.merchant_id, label)
        assert rolled == raw, label
    bills.close_days()
    for label in ("2026-10", "2026-11", "2026-11-30"):
        raw, rolled = raw_and_rolled(bills, billed_merchant.merchant_id, label)
        assert rolled == raw, label


class _OneRound:
    """A stop event that lets the worker run exactly one round."""

    def __init__(self) -> None:
        self.waits = 0

    def wait(self, _timeout: float) -> bool:
        self.waits += 1
        return self.waits > 1


def test_the_worker_closes_finished_days_and_seals_finished_months(billed_merchant: Shop) -> None:
    bills = billed_merchant.runtime.bills
    billed_merchant.at(datetime(2026, 11, 30, 16, 5, tzinfo=UTC))  # 1 December in Shanghai

    bills.run_worker(_OneRound(), interval_s=0)  # type: ignore[arg-type]

    assert bills.close_days() == []
    assert bills.month_statement(billed_merchant.merchant_id, "2026-11")["sealed"]
    assert bills.month_statement(billed_merchant.merchant_id, "2026-10")["sealed"]
    assert bills.check("2026-11").ok
