"""PostgreSQL: the base backup and the streamed WAL are sealed file by file by default; no
file of the backup holds a clear byte of a payer stored in clear in the source; the files
are opened only into the restore's private folder; an altered or moved sealed file is
refused (`file_tampered`, exit 1), and a backup that fails while sealing leaves no clear
file behind. `--no-encrypt` still makes the clear backup of before."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.dr import sealing
from paycore.dr.cli import dr_app
from paycore.dr.model import MANIFEST_NAME
from paycore.dr.service import DisasterRecovery
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.security import files
from tests.conftest import postgres_only
from tests.dr.journal_kit import post
from tests.dr.sealed_kit import (
    CIPHER,
    CLI_FIELD_KEYS,
    MARKER,
    PAYER_BYTES,
    found_in_files,
    found_when_opened,
    seed_payer,
)

pytestmark = postgres_only


@pytest.fixture(name="seeded")
def seeded_fixture(source: tuple[Engine, Ledger, list[str]]) -> Iterator[Engine]:
    """The payer's row in the source; afterwards dropped, checkpointed and its WAL segment
    switched out, so a later backup in the session (a clear one) cannot hold it."""
    engine, ledger, accounts = source
    post(ledger, accounts, f"tr_sealed_{secrets.token_hex(3)}_", transfers=300)
    seed_payer(engine)
    try:
        yield engine
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE dr_test_payers"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("CHECKPOINT"))
            conn.execute(text("SELECT pg_switch_wal()"))


def _restore_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("paycore-dr-*"))


def test_a_default_backup_seals_every_file_holds_no_clear_payer_and_passes_every_check(
    primary: str, seeded: Engine, tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=primary, clock=ManualClock(), cipher=CIPHER)
    manifest = dr.backup(tmp_path / "backup")
    before = _restore_dirs()

    report = dr.restore_check(tmp_path / "backup")

    backup = tmp_path / "backup"
    assert sealing.clear_files(backup) == []  # only paycore-backup.json is clear
    assert found_in_files(backup, [*PAYER_BYTES, MARKER.encode()]) == []
    assert found_when_opened(backup, manifest.point.restore_point or "", MARKER.encode())
    assert manifest.encrypted and manifest.sealed
    assert manifest.sealed.files == len(list(backup.rglob("*.enc")))
    assert report.ok, report.mismatches
    verified = next(s for s in report.steps if s.name == "verify backup")
    assert verified.detail == "opened, pg_verifybackup"
    assert _restore_dirs() == before  # the opened copy is gone


def test_an_altered_or_moved_sealed_file_is_refused_as_file_tampered_with_exit_1(
    primary: str, seeded: Engine, tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=primary, clock=ManualClock(), cipher=CIPHER)
    dr.backup(tmp_path / "backup")
    backup, before = tmp_path / "backup", _restore_dirs()
    segment = sorted((backup / "wal").glob("*.enc"))[0]
    original = segment.read_bytes()
    altered = bytearray(original)
    altered[len(altered) // 2] ^= 0x01
    segment.write_bytes(bytes(altered))

    env = {"PAYCORE_DATABASE_URL": primary, "PAYCORE_FIELD_KEYS": CLI_FIELD_KEYS}
    result = CliRunner().invoke(dr_app, ["restore-check", "--from", str(backup)], env=env)
    segment.write_bytes(original)
    control = backup / "base" / "global" / "pg_control.enc"
    control.write_bytes((backup / "base" / "PG_VERSION.enc").read_bytes())
    with pytest.raises(Rejected) as moved:
        dr.restore_check(backup)

    assert result.exit_code == 1, result.output
    assert "file_tampered" in result.output and f"wal/{segment.name}" in result.output
    assert moved.value.code == "file_tampered"
    assert "base/global/pg_control.enc" in moved.value.detail
    assert _restore_dirs() == before


def test_a_backup_that_fails_while_sealing_leaves_no_clear_file_behind(
    primary: str, seeded: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sealed: list[Path] = []
    seal_file = files.seal_file

    def seal_then_fail(source: Path, target: Path, *args: object, **kwargs: object) -> int:
        if len(sealed) == 20:
            raise OSError("disk full")
        sealed.append(target)
        return seal_file(source, target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files, "seal_file", seal_then_fail)
    dr = DisasterRecovery(source_url=primary, clock=ManualClock(), cipher=CIPHER)

    with pytest.raises(OSError, match="disk full"):
        dr.backup(tmp_path / "backup")

    assert len(sealed) >= 20  # sealed at once on several threads: some were done
    assert [p for p in (tmp_path / "backup").rglob("*") if p.is_file()] == []


def test_a_no_encrypt_backup_is_the_clear_backup_of_before_and_says_so(
    primary: str, source: tuple[Engine, Ledger, list[str]], tmp_path: Path
) -> None:
    dr = DisasterRecovery(source_url=primary, clock=ManualClock(), cipher=CIPHER)
    manifest = dr.backup(tmp_path / "backup", encrypt=False)

    report = dr.restore_check(tmp_path / "backup")

    assert not manifest.encrypted and manifest.sealed is None
    assert (tmp_path / "backup" / "base" / "backup_manifest").exists()
    assert list((tmp_path / "backup").rglob("*.enc")) == []
    assert '"encrypted": false' in (tmp_path / "backup" / MANIFEST_NAME).read_text()
    assert report.ok, report.mismatches
    verified = next(s for s in report.steps if s.name == "verify backup")
    assert verified.detail == "pg_verifybackup"
