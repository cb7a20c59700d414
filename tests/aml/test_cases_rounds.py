"""`serve`'s AML round scores the warehouse and opens a case per alert for the month being
scored, once: a second round in the same month changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from paycore.aml.cases import Cases
from paycore.aml.schedule import AmlRounds
from paycore.clock import ManualClock
from tests.aml.kit import Warehouse, at
from tests.aml.test_cases_fixtures import (  # noqa: F401
    cases_fixture,
    cipher_fixture,
    empty_aml_tables_fixture,
    lookup_fixture,
)


def test_a_round_opens_a_case_per_alert_once_for_the_month_in_shanghai(
    cases: Cases, tmp_path: Path
) -> None:
    house = Warehouse()
    for day in range(3):
        for k in range(35):
            house.payin("mch_front", 150_000, at(day, 3, k), payer=f"f{day}-{k}")
    root = house.write(tmp_path / "warehouse")
    # 16:30 UTC on the last day of November is already December in Shanghai.
    clock = ManualClock(datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    rounds = AmlRounds(cases, root, clock)

    first = rounds.round()
    second = rounds.round()

    assert first is not None and second is not None
    assert (len(first.opened), len(second.opened), len(second.added)) == (1, 0, 0)
    (case,) = cases.list_cases()
    assert (case.subject_id, case.typologies) == ("mch_front", ("fan_in",))
    assert rounds.period() == "2026-12"


def test_a_round_before_anything_is_exported_does_nothing(cases: Cases, tmp_path: Path) -> None:
    rounds = AmlRounds(cases, tmp_path / "none yet", ManualClock(datetime(2026, 12, 1, tzinfo=UTC)))

    assert rounds.round() is None
    assert cases.list_cases() == []
