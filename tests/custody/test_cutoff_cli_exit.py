"""`paycore custody cutoff DAY [--show]` exits non-zero while the day's run is incomplete:
after a rerun inside the idempotency lease of a refund a crash left unsent, the run
neither skips it silently nor says done."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from paycore.cli import app
from paycore.clock import ManualClock
from paycore.custody.model import ReceiptStatus
from tests.custody.conftest import BANKS, Desk
from tests.payments.fakes import succeeded


class Crash(Exception):
    """Stands for the process dying at that point."""


@pytest.fixture
def clock() -> ManualClock:
    """A day ago: the CLI runs on the system clock, so that day's cut-off is due now."""
    return ManualClock(datetime.now(UTC) - timedelta(days=1))


def custody_cli(database_url: str, tmp_path: Path, *args: str) -> Result:
    banks_file = tmp_path / "cli-custody.json"
    banks_file.write_text(json.dumps(BANKS), encoding="utf-8")
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "cli-var"),
        "PAYCORE_CUSTODY_FILE": str(banks_file),
        "PAYCORE_CHANNELS_FILE": "",
        "PAYCORE_FIELD_KEYS": "",
    }
    return CliRunner().invoke(app, ["custody", *args], env=env)


def test_a_cutoff_rerun_inside_the_lease_exits_non_zero_until_every_line_is_settled(
    desk: Desk, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payin = desk.pay("buyer-1", 10_000)
    day = desk.receipt(payin).business_date.isoformat()
    desk.move_to(datetime.now(UTC))

    def die(*_args: Any, **_kwargs: Any) -> Any:
        raise Crash("before the bank call")

    monkeypatch.setattr(desk.runtime.payments._steps, "dispatch", die)
    with pytest.raises(Crash):
        desk.runtime.custody.run_cutoff("sandbox_custody", desk.receipt(payin).business_date)
    monkeypatch.undo()

    desk.runtime.custody.tick()  # a rerun inside the lease: the refund may still be sent
    rerun = custody_cli(database_url, tmp_path, "cutoff", day, "--show", "--json")
    desk.clock.advance(61)
    desk.alpha.then(succeeded())
    desk.runtime.custody.tick()
    shown = custody_cli(database_url, tmp_path, "cutoff", day, "--show", "--json")

    assert rerun.exit_code == 1, rerun.output
    assert '"status": "incomplete"' in rerun.output and '"complete": false' in rerun.output
    assert desk.receipt(payin).status is ReceiptStatus.REFUNDED
    assert shown.exit_code == 0, shown.output
    assert '"complete": true' in shown.output
