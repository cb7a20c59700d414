"""A run judges every business day since the source's last run: skipped runs and late
files leave no day's shortfalls unjudged, and nothing is judged twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from paycore.clock import ManualClock
from paycore.recon.service import Recon
from paycore.recon.store_matching import CATCH_UP_DAYS_MAX
from paycore.runtime import Runtime
from tests.payments.fakes import ScriptedChannel
from tests.recon.conftest import DAY, START, Row, pay, write_statement

ONE_DAY_S = 24 * 3600


def _shortfalls(recon: Recon) -> dict[str, object]:
    """Order id → business date of each `missing_on_channel_side` break."""
    found = recon.list_breaks(type_="missing_on_channel_side")
    return {str(b["order_id"]): b["business_date"] for b in found}


def test_a_run_after_skipped_days_judges_each_skipped_day_once_and_not_what_a_later_file_shows(
    recon: Recon,
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    recon.run(source="alpha", business_date=DAY)
    clock.advance(ONE_DAY_S)  # day 2: the channel never shows `lost_2`; `late` comes on day 3
    lost_2 = pay(runtime, alpha, merchant_id, amount=2_000, txn="LOST2")
    late = pay(runtime, alpha, merchant_id, amount=3_000, txn="LATE")
    clock.advance(ONE_DAY_S)  # day 3: `lost_3` never shown either
    lost_3 = pay(runtime, alpha, merchant_id, amount=4_000, txn="LOST3")
    day_3 = START + timedelta(days=2)
    rows = [
        Row("D3-1", 3_000, channel_txn_id="LATE", fee=late.fee_amount, booked_at=day_3),
        Row("D3-2", 700, channel_txn_id="NOBODY", booked_at=day_3),
    ]
    recon.import_file(write_statement(tmp_path / "d3.csv", rows), format="test_csv", source="alpha")
    clock.advance(ONE_DAY_S)  # day 4: the runs of days 2 and 3 never happened

    caught_up = recon.run(source="alpha", business_date=DAY + timedelta(days=3))
    again = recon.run(source="alpha", business_date=DAY + timedelta(days=3))

    assert _shortfalls(recon) == {
        lost_2.id: DAY + timedelta(days=3),
        lost_3.id: DAY + timedelta(days=3),
    }
    [surplus] = recon.list_breaks(type_="missing_on_our_side")
    assert (surplus["line_amount"], surplus["business_date"]) == (700, DAY + timedelta(days=2))
    assert (caught_up["lines"], caught_up["matched"], caught_up["breaks_new"]) == (2, 1, 3)
    assert caught_up["judged_through"] == DAY + timedelta(days=2)
    assert again["breaks_new"] == 0
    assert len(recon.list_breaks()) == 3


def test_the_first_run_of_a_source_judges_only_its_day_minus_the_window(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, clock: ManualClock
) -> None:
    before = pay(runtime, alpha, merchant_id, amount=1_000, txn="BEFORE")
    clock.advance(ONE_DAY_S)
    judged = pay(runtime, alpha, merchant_id, amount=2_000, txn="JUDGED")
    clock.advance(ONE_DAY_S)

    first = recon.run(source="alpha", business_date=DAY + timedelta(days=2))

    assert list(_shortfalls(recon)) == [judged.id]
    assert first["judged_through"] == DAY + timedelta(days=1)
    assert before.id not in _shortfalls(recon)


def test_a_run_catches_up_at_most_the_bounded_number_of_days(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, clock: ManualClock
) -> None:
    recon.run(source="alpha", business_date=DAY)
    gap_days = CATCH_UP_DAYS_MAX + 5
    paid = {}
    for offset in range(1, gap_days):
        clock.advance(ONE_DAY_S)
        paid[offset] = pay(runtime, alpha, merchant_id, amount=1_000 + offset, txn=f"G{offset}")
    clock.advance(ONE_DAY_S)

    report = recon.run(source="alpha", business_date=DAY + timedelta(days=gap_days))

    judged_from = gap_days - CATCH_UP_DAYS_MAX  # window 1: the run judges up to gap - 1
    assert sorted(_shortfalls(recon)) == sorted(
        paid[offset].id for offset in range(judged_from, gap_days)
    )
    assert report["breaks_new"] == CATCH_UP_DAYS_MAX


def test_re_running_an_earlier_day_judges_that_day_again_and_adds_nothing_twice(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, clock: ManualClock
) -> None:
    lost = pay(runtime, alpha, merchant_id, amount=5_000, txn="LOST")
    clock.advance(2 * ONE_DAY_S)
    recon.run(source="alpha", business_date=DAY + timedelta(days=2))  # judges day 2 only
    assert _shortfalls(recon) == {}

    earlier = recon.run(source="alpha", business_date=DAY + timedelta(days=1))
    later = recon.run(source="alpha", business_date=DAY + timedelta(days=2))

    assert _shortfalls(recon) == {lost.id: DAY + timedelta(days=1)}
    assert (earlier["breaks_new"], later["breaks_new"]) == (1, 0)
