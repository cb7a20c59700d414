"""An encrypted SQLite backup: only ciphertext in the backup folder, restored and checked
with the field key alone, and refused when altered or when the key is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.dr.model import SQLITE_FILE_NAME
from paycore.dr.service import SEALED_SQLITE_FILE_NAME, DisasterRecovery
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.security import files
from paycore.security.crypto import FieldCipher
from tests.conftest import ON_POSTGRES
from tests.dr.journal_kit import open_accounts, post
from tests.security.conftest_keys import STATIC_KEY

CIPHER = FieldCipher({"k1": STATIC_KEY}, "k1")


SQLITE_ONLY = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's copy (PostgreSQL: refused)")


def test_an_encrypted_backup_paycore_cannot_make_is_refused_before_anything_is_copied(
    database_url: str, engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    # Both databases' backups are sealed by default, and need the cipher (dr/sealing.py).
    dr = DisasterRecovery(source_url=database_url, clock=clock, cipher=None)
    with pytest.raises(Rejected) as refused:
        dr.backup(tmp_path / "backup", encrypt=True)
    assert refused.value.code == "backup_encryption_unsupported"
    assert list((tmp_path / "backup").iterdir()) == []


@pytest.fixture(name="backup")
def backup_fixture(
    database_url: str, engine: Engine, ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> Path:
    post(ledger, open_accounts(ledger), "tr_a", transfers=50)
    DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER).backup(
        tmp_path / "backup", encrypt=True
    )
    return tmp_path / "backup"


@SQLITE_ONLY
def test_an_encrypted_backup_keeps_no_clear_copy_and_restores_with_every_check(
    backup: Path, database_url: str, clock: ManualClock
) -> None:
    kept = sorted(p.name for p in backup.iterdir())
    report = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER).restore_check(
        backup
    )
    assert kept == ["paycore-backup.json", SEALED_SQLITE_FILE_NAME]
    assert files.is_sealed(backup / SEALED_SQLITE_FILE_NAME)
    assert b"SQLite format 3" not in (backup / SEALED_SQLITE_FILE_NAME).read_bytes()
    assert report.ok, report.mismatches
    assert not (backup / SQLITE_FILE_NAME).exists()


@SQLITE_ONLY
def test_an_encrypted_backup_without_the_key_or_altered_is_refused(
    backup: Path, database_url: str, clock: ManualClock
) -> None:
    keyless = DisasterRecovery(source_url=database_url, clock=clock)
    with pytest.raises(Rejected) as refused:
        keyless.restore_check(backup)
    assert refused.value.code == "backup_encrypted"
    sealed = backup / SEALED_SQLITE_FILE_NAME
    data = bytearray(sealed.read_bytes())
    data[-100] ^= 1
    sealed.write_bytes(bytes(data))
    with pytest.raises(Rejected) as altered:
        DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER).restore_check(backup)
    assert altered.value.code == "file_tampered"
