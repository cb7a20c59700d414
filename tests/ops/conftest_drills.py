"""Fixtures of the drill tests (imported by test_drill*.py): a drill run on the test's own
database, engine, clock and field key, as `paycore drill` runs one on the configured
database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.ops.drill_run import run_drill
from paycore.ops.drills import DrillName, Timeline
from paycore.platform.config import Settings
from paycore.security.crypto import FieldCipher

DRILL_START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
"""A Monday morning in Shanghai, the day after the seed's week 49."""

RunDrill = Callable[[DrillName], Timeline]


@pytest.fixture(name="drill_clock")
def drill_clock_fixture() -> ManualClock:
    return ManualClock(DRILL_START)


@pytest.fixture(name="run")
def run_fixture(
    database_url: str,
    engine: Engine,
    drill_clock: ManualClock,
    field_cipher: FieldCipher,
    tmp_path: Path,
) -> RunDrill:
    """Run a drill on the test database; its ledger is the drill's own, on its clock."""
    settings = Settings(database_url=database_url, expiry_interval_s=1.0, data_dir=str(tmp_path))

    def run(name: DrillName) -> Timeline:
        ledger = Ledger(engine, clock=drill_clock)
        try:
            return run_drill(
                name, settings, clock=drill_clock, engine=engine, ledger=ledger, cipher=field_cipher
            )
        finally:
            ledger.close()

    return run
