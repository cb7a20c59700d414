"""SQLite's backup while the server writes, its restore-check, and a tampered backup.

Backups are sealed by default; the tests that edit the copy's rows make a clear one
(`encrypt=False`). tests/dr/test_sealed_sqlite.py looks at the sealing itself."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.dr import store
from paycore.dr.cli import dr_app
from paycore.dr.model import SQLITE_FILE_NAME, Target
from paycore.dr.service import DisasterRecovery, read_manifest
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from tests.conftest import ON_POSTGRES
from tests.dr.journal_kit import open_accounts, post, posting_meanwhile
from tests.dr.sealed_kit import CIPHER

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's own backup (PostgreSQL: test_pg_dr)")


def _last_seq(engine: Engine) -> int:
    with engine.connect() as conn:
        return store.last_seq(conn)


@pytest.fixture
def accounts(ledger: Ledger) -> list[str]:
    accounts = open_accounts(ledger)
    post(ledger, accounts, "tr_a", transfers=1200)
    return accounts


def test_a_backup_taken_while_transfers_post_restores_to_its_point_and_passes_every_check(
    database_url: str, engine: Engine, ledger: Ledger, accounts: list[str], clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    dr = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER)
    before = _last_seq(engine)
    with posting_meanwhile(ledger, accounts, "tr_live") as batches:
        manifest = dr.backup(tmp_path / "backup")
    post(ledger, accounts, "tr_after", transfers=300)  # the source moves on past the point

    report = dr.restore_check(tmp_path / "backup")

    assert report.ok, report.mismatches
    assert batches[0] > 0
    assert before <= manifest.point.seq == report.restored_seq < _last_seq(engine)
    assert read_manifest(tmp_path / "backup").fingerprint == manifest.fingerprint
    assert {s.name for s in report.steps} >= {"ledger check", "flow check", "= source"}


def test_the_manifest_names_the_source_without_its_password_and_the_journal_point(
    database_url: str, engine: Engine, accounts: list[str], clock: ManualClock, tmp_path: Path
) -> None:
    manifest = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER).backup(
        tmp_path / "b"
    )

    raw = (tmp_path / "b" / "paycore-backup.json").read_text()
    assert manifest.kind.value == "sqlite" and '"kind": "sqlite"' in raw
    assert manifest.point.seq == _last_seq(engine)
    assert manifest.fingerprint.transfers.rows == 1200
    assert manifest.created_at == clock.now()


def test_a_tampered_amount_in_the_backup_fails_the_restore_check_and_names_the_transfer(
    database_url: str, accounts: list[str], clock: ManualClock, tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER)
    dr.backup(tmp_path / "backup", encrypt=False)
    with sqlite3.connect(tmp_path / "backup" / SQLITE_FILE_NAME) as copy:
        copy.execute("UPDATE ledger_transfers SET amount = amount + 1 WHERE id = 'tr_a600_7_t'")

    result = CliRunner().invoke(
        dr_app, ["restore-check", "--from", str(tmp_path / "backup")],
        env={"PAYCORE_DATABASE_URL": database_url},
    )  # fmt: skip

    assert result.exit_code == 1, result.output
    assert "first difference at seq" in result.output
    assert "transfer tr_a600_7_t" in result.output
    assert "sha256 differs" in result.output
    assert "MISMATCH" in result.output


def test_a_restore_check_without_the_source_still_catches_a_changed_balance(
    database_url: str, accounts: list[str], clock: ManualClock, tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER)
    dr.backup(tmp_path / "backup", encrypt=False)
    with sqlite3.connect(tmp_path / "backup" / SQLITE_FILE_NAME) as copy:
        copy.execute(
            "UPDATE ledger_accounts SET credits_posted = credits_posted + 5 WHERE id = ?",
            (accounts[3],),
        )

    report = dr.restore_check(tmp_path / "backup", compare_source=False)

    assert not report.ok
    failed = {s.name for s in report.steps if not s.ok}
    assert failed == {"verify backup", "ledger check", "balances = journal"}
    assert any(accounts[3] in m for m in report.mismatches)


def test_a_backup_refuses_a_folder_that_is_not_empty(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "other").write_text("x")

    with pytest.raises(Rejected) as refused:
        DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER).backup(tmp_path / "b")

    assert refused.value.code == "backup_target_not_empty"


def test_a_restore_check_of_a_folder_without_a_manifest_is_refused(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    with pytest.raises(Rejected) as refused:
        DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER).restore_check(
            tmp_path
        )

    assert refused.value.code == "backup_incomplete"


def test_the_restored_copy_is_removed_and_the_backup_left_as_it_was(
    database_url: str, engine: Engine, accounts: list[str], clock: ManualClock, tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER)
    dr.backup(tmp_path / "backup")
    before = sorted(p.name for p in (tmp_path / "backup").iterdir())

    dr.restore_check(tmp_path / "backup")

    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_check_runs")).scalar_one() == 0


def test_a_sqlite_backup_cannot_be_restored_to_another_point(
    database_url: str, accounts: list[str], clock: ManualClock, tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER)
    dr.backup(tmp_path / "backup")

    with pytest.raises(Rejected) as refused:
        dr.restore_check(tmp_path / "backup", target=Target(lsn="0/0"))

    assert refused.value.code == "restore_target_unsupported"


def test_a_lost_source_fails_only_the_source_comparison_and_can_be_skipped(
    database_url: str, accounts: list[str], clock: ManualClock, tmp_path: Path
) -> None:
    DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER).backup(
        tmp_path / "backup"
    )
    gone = f"sqlite:///{tmp_path / 'lost' / 'gone.db'}"
    lost = DisasterRecovery(source_url=gone, clock=clock, cipher=CIPHER)

    compared = lost.restore_check(tmp_path / "backup")
    skipped = lost.restore_check(tmp_path / "backup", compare_source=False)

    assert [s.name for s in compared.steps if not s.ok] == ["= source"]
    assert "--no-source" in compared.mismatches[0]
    assert skipped.ok, skipped.mismatches
    assert "= source" not in {s.name for s in skipped.steps}
