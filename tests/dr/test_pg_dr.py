"""PostgreSQL: a base backup and the WAL streamed while transfers post, recovered by a
temporary postmaster to the backup's point (or an earlier target) and checked there.

The source is a private cluster (tests/dr/conftest.py: `primary`). Backups are sealed, the
default; tests/dr/test_sealed_pg.py looks at the sealing itself.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.dr import store
from paycore.dr.model import Target
from paycore.dr.service import DisasterRecovery
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from tests.conftest import postgres_only
from tests.dr.journal_kit import post, posting_meanwhile
from tests.dr.sealed_kit import CIPHER

pytestmark = postgres_only


def _last_seq(engine: Engine) -> int:
    with engine.connect() as conn:
        return store.last_seq(conn)


def test_a_backup_taken_while_transfers_post_recovers_to_its_point_and_passes_every_check(
    primary: str, source: tuple[Engine, Ledger, list[str]], tmp_path: Path
) -> None:
    engine, ledger, accounts = source
    post(ledger, accounts, "tr_pg", transfers=3000)
    before = _last_seq(engine)
    dr = DisasterRecovery(source_url=primary, clock=ManualClock(), cipher=CIPHER)
    with posting_meanwhile(ledger, accounts, "tr_pg_live") as batches:
        manifest = dr.backup(tmp_path / "backup")
    post(ledger, accounts, "tr_pg_after", transfers=300)

    report = dr.restore_check(tmp_path / "backup")

    assert report.ok, report.mismatches
    assert batches[0] > 0
    assert before <= manifest.point.seq <= report.restored_seq < _last_seq(engine)
    assert manifest.point.restore_point and manifest.point.lsn
    assert (tmp_path / "backup" / "base" / "backup_manifest.enc").exists()
    assert manifest.encrypted and manifest.sealed and manifest.sealed.files > 1
    assert {s.name for s in report.steps if s.ok} >= {
        "verify backup", "restore", "ledger check", "flow check", "= backup manifest", "= source"
    }  # fmt: skip


def test_a_restore_to_an_earlier_lsn_matches_the_source_at_that_earlier_journal_point(
    primary: str, source: tuple[Engine, Ledger, list[str]], tmp_path: Path
) -> None:
    _engine, ledger, accounts = source
    post(ledger, accounts, "tr_early", transfers=600)
    dr = DisasterRecovery(source_url=primary, clock=ManualClock(), cipher=CIPHER)
    with posting_meanwhile(ledger, accounts, "tr_early_live"):
        manifest = dr.backup(tmp_path / "backup")
    end_of_base = manifest.base_lsn["end_lsn"]

    report = dr.restore_check(tmp_path / "backup", target=Target(lsn=end_of_base))

    assert report.ok, report.mismatches
    assert report.restored_seq <= manifest.point.seq
    compared = next(s for s in report.steps if s.name == "= source")
    assert compared.detail == f"source at seq {report.restored_seq}"


def test_a_target_beyond_the_archive_fails_the_restore_and_leaves_no_server_behind(
    primary: str, source: tuple[Engine, Ledger, list[str]], tmp_path: Path
) -> None:
    _engine, ledger, accounts = source
    post(ledger, accounts, "tr_beyond", transfers=60)
    dr = DisasterRecovery(source_url=primary, clock=ManualClock(), cipher=CIPHER)
    dr.backup(tmp_path / "backup")
    before = set(Path(tempfile.gettempdir()).glob("paycore-dr-*"))

    with pytest.raises(Rejected) as refused:
        dr.restore_check(tmp_path / "backup", target=Target(lsn="FF/0"))

    assert refused.value.code == "restore_failed"
    assert "recovery ended before configured recovery target was reached" in refused.value.detail
    assert set(Path(tempfile.gettempdir()).glob("paycore-dr-*")) == before
