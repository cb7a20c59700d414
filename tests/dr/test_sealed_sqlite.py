"""SQLite: a backup is sealed by default, holds no clear byte of a payer stored in clear in
the source, restores with every check; `--no-encrypt` is clear on purpose and says so; a
sealed backup altered or with a clear file left in it is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.dr.cli import dr_app
from paycore.dr.model import MANIFEST_NAME, SQLITE_FILE_NAME
from paycore.dr.service import BACKUP_FILE_KIND, SEALED_SQLITE_FILE_NAME, DisasterRecovery
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.security import files
from tests.conftest import ON_POSTGRES
from tests.dr.journal_kit import open_accounts, post
from tests.dr.sealed_kit import (
    CIPHER,
    CLI_FIELD_KEYS,
    MARKER,
    PAYER_BYTES,
    found_in_files,
    seed_payer,
)

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's copy (PostgreSQL: test_sealed_pg)")


@pytest.fixture(name="seeded")
def seeded_fixture(engine: Engine, ledger: Ledger) -> None:
    post(ledger, open_accounts(ledger), "tr_s", transfers=120)
    seed_payer(engine)


def _cli(database_url: str, *args: str) -> tuple[int, str]:
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_FIELD_KEYS": CLI_FIELD_KEYS}
    result = CliRunner().invoke(dr_app, list(args), env=env)
    return result.exit_code, result.output


def test_a_default_backup_holds_no_clear_byte_of_a_seeded_payer_and_passes_every_check(
    seeded: None, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER)
    manifest = dr.backup(tmp_path / "backup")
    report = dr.restore_check(tmp_path / "backup")

    backup = tmp_path / "backup"
    assert sorted(p.name for p in backup.iterdir()) == [MANIFEST_NAME, SEALED_SQLITE_FILE_NAME]
    assert found_in_files(backup, [*PAYER_BYTES, MARKER.encode()]) == []
    opened = files.read_clear(backup / SEALED_SQLITE_FILE_NAME, CIPHER, kind=BACKUP_FILE_KIND)
    assert MARKER.encode() in opened  # the row is in the backup: sealed
    assert manifest.encrypted and manifest.sealed and manifest.sealed.files == 1
    assert json.loads((backup / MANIFEST_NAME).read_text())["encrypted"] is True
    assert report.ok, report.mismatches


def test_a_no_encrypt_backup_is_clear_on_purpose_and_its_manifest_says_so(
    seeded: None, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER)
    manifest = dr.backup(tmp_path / "backup", encrypt=False)
    report = dr.restore_check(tmp_path / "backup")

    assert found_in_files(tmp_path / "backup", [MARKER.encode()]) == [SQLITE_FILE_NAME]
    assert not manifest.encrypted and manifest.sealed is None
    assert json.loads((tmp_path / "backup" / MANIFEST_NAME).read_text())["encrypted"] is False
    assert report.ok, report.mismatches


def test_the_cli_seals_by_default_still_takes_encrypt_and_makes_a_clear_copy_only_when_told(
    seeded: None, database_url: str, tmp_path: Path
) -> None:
    made = {
        name: _cli(database_url, "backup", "--to", str(tmp_path / name), *flags)
        for name, flags in {"plain": [], "old": ["--encrypt"], "clear": ["--no-encrypt"]}.items()
    }
    checked = _cli(database_url, "restore-check", "--from", str(tmp_path / "plain"))

    assert {name: code for name, (code, _) in made.items()} == {"plain": 0, "old": 0, "clear": 0}
    encrypted = {
        name: json.loads((tmp_path / name / MANIFEST_NAME).read_text())["encrypted"]
        for name in made
    }
    assert encrypted == {"plain": True, "old": True, "clear": False}
    assert (tmp_path / "plain" / SEALED_SQLITE_FILE_NAME).exists()
    assert "sealed" in made["plain"][1] and "--no-encrypt" in made["clear"][1]
    assert checked[0] == 0, checked[1]


def test_an_altered_sealed_backup_is_refused_as_file_tampered_with_exit_1(
    seeded: None, database_url: str, tmp_path: Path
) -> None:
    assert _cli(database_url, "backup", "--to", str(tmp_path / "backup"))[0] == 0
    sealed = tmp_path / "backup" / SEALED_SQLITE_FILE_NAME
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0x01
    sealed.write_bytes(bytes(data))

    code, output = _cli(database_url, "restore-check", "--from", str(tmp_path / "backup"))

    assert code == 1, output
    assert "file_tampered" in output and SEALED_SQLITE_FILE_NAME in output


def test_an_encrypted_backup_with_a_clear_file_left_in_it_is_refused(
    seeded: None, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=database_url, clock=clock, cipher=CIPHER)
    dr.backup(tmp_path / "backup")
    (tmp_path / "backup" / "left-over.txt").write_text("not sealed")

    with pytest.raises(Rejected) as refused:
        dr.restore_check(tmp_path / "backup")

    assert refused.value.code == "backup_not_sealed"
    assert "left-over.txt" in refused.value.detail


def test_a_backup_without_the_field_cipher_is_refused_rather_than_written_clear(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    keyless = DisasterRecovery(source_url=database_url, clock=clock)

    with pytest.raises(Rejected) as refused:
        keyless.backup(tmp_path / "backup")

    assert refused.value.code == "backup_encryption_unsupported"
    assert list((tmp_path / "backup").iterdir()) == []
