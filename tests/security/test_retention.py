"""Kept files are purged once past their kind's retention, and only those."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.security.retention import DEFAULT_DAYS, Retention, parse_days, rules_of


def aged(path: Path, clock: ManualClock, days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"kept")
    stamp = (clock.now() - timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture(name="layout")
def layout_fixture(tmp_path: Path, clock: ManualClock) -> dict[str, Path]:
    data, bank = tmp_path / "data", tmp_path / "bank"
    return {
        "old_statement": aged(data / "recon" / "sandbox" / "2026-01-01.statement.enc", clock, 181),
        "new_statement": aged(data / "recon" / "sandbox" / "2026-06-01.statement.enc", clock, 170),
        "old_export": aged(data / "exports" / "exp_1.lease.csv", clock, 8),
        "new_export": aged(data / "exports" / "exp_2.lease.csv", clock, 6),
        "old_inbound": aged(bank / "inbound" / "processed" / "camt053.xml.enc", clock, 200),
        "waiting_inbound": aged(bank / "inbound" / "camt053_new.xml", clock, 400),
        "old_pain001": aged(bank / "MSG1.pain.001.xml", clock, 8),
        "new_pain001": aged(bank / "MSG2.pain.001.xml", clock, 6),
        "other_in_data": aged(data / "keys" / "field-keys.json", clock, 999),
    }


def retention_of(tmp_path: Path, clock: ManualClock, text: str = "") -> Retention:
    rules = rules_of(tmp_path / "data", [tmp_path / "bank"], parse_days(text))
    return Retention(rules, clock=clock)


def test_files_past_their_retention_are_removed_and_the_rest_kept(
    tmp_path: Path, clock: ManualClock, layout: dict[str, Path]
) -> None:
    done = retention_of(tmp_path, clock).purge()
    gone = {name for name, path in layout.items() if not path.exists()}
    assert gone == {"old_statement", "old_export", "old_inbound", "old_pain001"}
    assert done.removed == {"statement": 1, "export": 1, "inbound": 1, "h2h_outbound": 1}
    assert done.bytes_by_kind["statement"] == len(b"kept")


def test_a_dry_run_lists_what_would_go_and_removes_nothing(
    tmp_path: Path, clock: ManualClock, layout: dict[str, Path]
) -> None:
    done = retention_of(tmp_path, clock).purge(dry_run=True)
    assert sorted(done.paths) == sorted(
        layout[name] for name in ("old_statement", "old_export", "old_inbound", "old_pain001")
    )
    assert all(path.exists() for path in layout.values())


def test_a_file_is_purged_once_the_clock_passes_its_retention(
    tmp_path: Path, clock: ManualClock, layout: dict[str, Path]
) -> None:
    retention = retention_of(tmp_path, clock)
    retention.purge()
    assert layout["new_export"].exists()
    clock.advance(2 * 86400)
    retention.purge()
    assert not layout["new_export"].exists()
    assert layout["new_statement"].exists()


def test_a_configured_retention_overrides_the_default(
    tmp_path: Path, clock: ManualClock, layout: dict[str, Path]
) -> None:
    retention_of(tmp_path, clock, "statement=365, export=30").purge()
    assert layout["old_statement"].exists() and layout["old_export"].exists()
    assert not layout["old_pain001"].exists()


@pytest.mark.parametrize("text", ["statment=3", "export=0", "export=ten", "export", "export=4000"])
def test_a_retention_setting_that_names_no_kind_or_no_sane_days_is_refused(text: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_days(text)
    assert refused.value.code == "invalid_retention"


def test_every_kind_has_a_default() -> None:
    assert parse_days("") == dict(DEFAULT_DAYS)


def test_a_symlink_is_never_followed_or_removed(tmp_path: Path, clock: ManualClock) -> None:
    precious = aged(tmp_path / "elsewhere" / "ledger.db", clock, 999)
    link = tmp_path / "data" / "exports" / "link.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(precious)
    os.utime(link, (0, 0), follow_symlinks=False)
    retention_of(tmp_path, clock).purge()
    assert precious.exists() and link.is_symlink()
