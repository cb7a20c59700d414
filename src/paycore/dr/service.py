"""Backup and restore-check: the use cases behind `paycore dr`.

`backup` writes a consistent copy of the ledger's database and a manifest naming its point
(the journal's last seq; on PostgreSQL also the named restore point in the WAL) with the
ledger's fingerprint there. `restore_check` restores the copy into a fresh database, runs
the ledger's self-check and the flow check on it, and proves it is the source as of that
point: the restored fingerprint equals the manifest's and the live source's at the same
seq, and the restored accounts' balances equal each account's balance recomputed from the
journal at that seq. The first differing journal position is found by bisection over seq
ranges, digests on both sides, so a difference is named, not only detected.

Backups are sealed at rest by default (`encrypt=True`; `paycore dr backup --no-encrypt`
makes a clear one on purpose, and the manifest says which): SQLite's copy is made in a
private temporary folder and kept only as `paycore.db.enc`; PostgreSQL's base backup and
WAL are sealed file by file once the backup is complete (dr/sealing.py). Their data keys
are sealed with the static field key (PAYCORE_FIELD_KEYS), which a restore needs and
nothing else: not the database's own data keys, which are inside the backup. A restore
opens them only into its private temporary folder.
"""

from __future__ import annotations

import contextlib
import functools
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError

from paycore.clock import Clock
from paycore.consistency.service import FlowCheck
from paycore.dr import compare, pg, sealing, service_pg, sqlite, store
from paycore.dr.model import (
    DIFFERENCES_NAMED_MAX,
    MANIFEST_NAME,
    PG_BASE_DIR,
    PG_WAL_DIR,
    SQLITE_FILE_NAME,
    Copied,
    Fingerprint,
    Kind,
    Manifest,
    Point,
    Progress,
    RestoreReport,
    Sealed,
    Step,
    Target,
    differences,
    without_password,
)
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.security import files

SEALED_SQLITE_FILE_NAME = SQLITE_FILE_NAME + files.SEALED_SUFFIX
BACKUP_FILE_KIND = sealing.FILE_KIND
"""The file kind SQLite's copy's data key is sealed under (security/files.py)."""


def kind_of(url: str) -> Kind:
    if url.startswith("sqlite"):
        return Kind.SQLITE
    if url.startswith("postgresql"):
        return Kind.POSTGRESQL
    raise Rejected("backup_source_invalid", "the database must be SQLite or PostgreSQL")


def read_manifest(backup_dir: Path) -> Manifest:
    path = backup_dir / MANIFEST_NAME
    if not path.exists():
        raise Rejected("backup_incomplete", f"no {MANIFEST_NAME} in {backup_dir}")
    try:
        raw = json.loads(path.read_text())
    except ValueError as error:
        raise Rejected("backup_manifest_invalid", str(error)) from error
    return Manifest.from_dict(raw)


class DisasterRecovery:
    def __init__(
        self,
        *,
        source_url: str,
        clock: Clock,
        progress: Progress | None = None,
        cipher: files.FieldSealer | None = None,
    ) -> None:
        self._source_url = source_url
        self._clock = clock
        self._progress = progress or (lambda _step: None)
        self._cipher = cipher
        """Seals backups (by default) and opens sealed ones; without it a backup must be
        asked for clear (`encrypt=False`). Give the static-key cipher
        (`load_field_cipher(settings)`, not bound): a data key kept in the database being
        backed up would be inside the backup it must open."""

    # -- backup -------------------------------------------------------------------------

    def backup(self, target_dir: Path, *, encrypt: bool = True) -> Manifest:
        """A consistent backup of the source into `target_dir` (new or empty), its data
        files sealed unless `encrypt=False`."""
        if target_dir.exists() and any(target_dir.iterdir()):
            raise Rejected("backup_target_not_empty", f"{target_dir} is not empty")
        target_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        created_at = self._clock.now()
        kind = kind_of(self._source_url)
        if encrypt and self._cipher is None:  # a wiring defect, never a reason to write clear
            raise Rejected(
                "backup_encryption_unsupported",
                "an encrypted backup needs the field cipher (--no-encrypt for a clear one)",
            )
        cipher = self._cipher if encrypt else None
        if kind is Kind.SQLITE:
            copied = self._backup_sqlite(target_dir, cipher=cipher)
        else:
            copied = service_pg.backup(self._source_url, target_dir, self._progress, cipher=cipher)
        manifest = Manifest(
            kind=kind,
            source_url=without_password(self._source_url),
            created_at=created_at,
            point=copied.point,
            fingerprint=copied.fingerprint,
            files=copied.files,
            base_lsn=copied.base_lsn,
            took_s=time.monotonic() - began,
            encrypted=encrypt,
            sealed=copied.sealed,
        )
        (target_dir / MANIFEST_NAME).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
        return manifest

    def _backup_sqlite(self, target_dir: Path, *, cipher: files.FieldSealer | None) -> Copied:
        # Encrypted: the clear copy is made and fingerprinted in a private temporary
        # folder, never in the backup folder.
        with files.clear_scratch(SQLITE_FILE_NAME) as scratch:
            copy = scratch if cipher else target_dir / SQLITE_FILE_NAME
            self._progress("copying the database (SQLite online backup)")
            sqlite.backup(sqlite.database_path(self._source_url), copy)
            self._progress("fingerprinting the copy")
            with _read_only(copy) as engine, engine.connect() as conn:
                seq = store.last_seq(conn)
                fingerprint = store.fingerprint(conn, seq)
            if cipher is not None:
                self._progress("encrypting the copy")
                began = time.monotonic()
                sealed = target_dir / SEALED_SQLITE_FILE_NAME
                size = files.seal_file(copy, sealed, cipher, kind=BACKUP_FILE_KIND)
                took = Sealed(1, size, time.monotonic() - began)
                digest = {sealed.name: sqlite.sha256(sealed)}
                return Copied(Point(seq=seq), fingerprint, digest, sealed=took)
        return Copied(Point(seq=seq), fingerprint, files={SQLITE_FILE_NAME: sqlite.sha256(copy)})

    # -- restore-check --------------------------------------------------------------------

    def restore_check(
        self, backup_dir: Path, *, target: Target | None = None, compare_source: bool = True
    ) -> RestoreReport:
        """Restore `backup_dir` into a fresh database, check it, compare it; never raises
        for a mismatch (the report says what differs), only for a backup that cannot load."""
        target = target or Target()
        manifest = read_manifest(backup_dir)
        if manifest.encrypted:
            self._cipher_to_open()
            sealing.refuse_clear(backup_dir)
        if manifest.kind is Kind.SQLITE and not target.is_backup_point:
            raise Rejected("restore_target_unsupported", "a SQLite backup has only its point")
        if compare_source and kind_of(self._source_url) is not manifest.kind:
            raise Rejected("backup_source_mismatch", f"the backup is {manifest.kind.value}")
        report = RestoreReport(manifest.kind)
        cpu_began = time.process_time()
        with self._restored(manifest, backup_dir, target, report) as (url, server_cpu):
            with store.open_engine(url) as engine:
                began = time.monotonic()
                self._run_checks(engine, report)
                self._compare(engine, manifest, target, report, compare_source)
                report.check_s = time.monotonic() - began
            report.server_cpu_s = server_cpu()
        report.cpu_s = time.process_time() - cpu_began
        return report

    @contextlib.contextmanager
    def _restored(
        self, manifest: Manifest, backup_dir: Path, target: Target, report: RestoreReport
    ) -> Iterator[tuple[str, Callable[[], float]]]:
        began = time.monotonic()
        if manifest.kind is Kind.SQLITE:
            sealed = SEALED_SQLITE_FILE_NAME in manifest.files
            name = SEALED_SQLITE_FILE_NAME if sealed else SQLITE_FILE_NAME
            backup_file = backup_dir / name
            self._progress("verifying the backup file")
            _verify_sqlite(backup_file, manifest, report, name=name)
            with tempfile.TemporaryDirectory(prefix="paycore-dr-") as scratch:
                self._progress("restoring into a fresh database")
                self._restore_sqlite(backup_file, Path(scratch) / SQLITE_FILE_NAME, sealed=sealed)
                report.restore_s = time.monotonic() - began
                report.add(Step("restore", report.restore_s, 0, True, "copy of the backup"))
                yield f"sqlite:///{Path(scratch) / SQLITE_FILE_NAME}", lambda: 0.0
            return
        fill = self._pg_fill(manifest, backup_dir, report, began)
        self._progress("restoring: copy, then recovery from the WAL archive")
        with pg.restored_cluster(fill, target, manifest.point.restore_point) as cluster:
            service_pg.wait_recovered(cluster.url(self._source_url), cluster)
            report.restore_s = time.monotonic() - began
            where = "the backup's point" if target.is_backup_point else "the target"
            report.add(Step("restore", report.restore_s, 0, True, f"recovered to {where}"))
            yield cluster.url(self._source_url), cluster.server_cpu_s

    def _pg_fill(
        self, manifest: Manifest, backup_dir: Path, report: RestoreReport, began: float
    ) -> pg.Fill:
        def verified(detail: str) -> None:
            report.add(Step("verify backup", time.monotonic() - began, 0, True, detail))

        if manifest.encrypted:
            self._progress("opening the sealed backup, then pg_verifybackup on the copy")
            backup_id = service_pg.backup_id(manifest.point)
            opened = functools.partial(verified, "opened, pg_verifybackup")
            return service_pg.opened(backup_dir, self._cipher_to_open(), backup_id, opened)
        self._progress("verifying the base backup (pg_verifybackup)")
        pg.verify(backup_dir / PG_BASE_DIR)
        verified("pg_verifybackup")
        return pg.copier(backup_dir / PG_BASE_DIR, backup_dir / PG_WAL_DIR)

    def _cipher_to_open(self) -> files.FieldSealer:
        if self._cipher is None:
            raise Rejected("backup_encrypted", "an encrypted backup needs the field cipher")
        return self._cipher

    def _restore_sqlite(self, backup_file: Path, target: Path, *, sealed: bool) -> None:
        if not sealed:
            sqlite.restore(backup_file, target)
        else:  # decrypted straight into the scratch database: the only clear copy
            cipher = self._cipher_to_open()
            files.unseal_file(backup_file, target, cipher, kind=BACKUP_FILE_KIND)

    def _run_checks(self, engine: Engine, report: RestoreReport) -> None:
        self._progress("ledger self-check on the restored database")
        began = time.monotonic()
        ledger = Ledger(engine, clock=self._clock)
        try:
            checked = ledger.check()
        finally:
            ledger.close()
        report.add(
            Step("ledger check", time.monotonic() - began, checked.accounts_checked, checked.ok),
            checked.problems[:DIFFERENCES_NAMED_MAX],
        )
        self._progress("flow check (every flow's records against the journal)")
        began = time.monotonic()
        flows = FlowCheck(engine, self._clock).run()
        found = [
            f"{d.code}: {d.subject_id} ({d.transfer_id}) {d.detail}" for d in flows.disagreements
        ]
        report.add(Step("flow check", time.monotonic() - began, flows.found, flows.ok), found)

    def _compare(
        self,
        engine: Engine,
        manifest: Manifest,
        target: Target,
        report: RestoreReport,
        compare_source: bool,
    ) -> None:
        self._progress("fingerprinting the restored ledger")
        began = time.monotonic()
        with engine.connect() as conn:
            seq = store.last_seq(conn)
            restored = store.fingerprint(conn, seq)
            live = store.digest(conn, "live_balances")
            rows = store.row_counts(conn)
            at_point = compare.at_point(conn, manifest, target, restored)
        report.restored_seq = seq
        _set_rows(report, "restore", rows["ledger_entries"])
        report.add(
            Step(
                "balances = journal", time.monotonic() - began, live.rows, live == restored.balances
            ),
            compare.balance_problems(live, restored.balances, seq),
        )
        self._compare_manifest(manifest, target, at_point, report)
        if compare_source:
            self._compare_source(engine, restored, report)

    def _compare_manifest(
        self,
        manifest: Manifest,
        target: Target,
        at_point: Fingerprint | None,
        report: RestoreReport,
    ) -> None:
        expected = manifest.fingerprint
        if at_point is None:
            detail = f"the target ends before the backup's point (seq {expected.seq})"
            report.add(Step("= backup manifest", 0.0, 0, True, f"not compared: {detail}"))
            return
        problems = differences(expected, at_point)
        detail = f"at seq {expected.seq}"
        report.add(
            Step("= backup manifest", 0.0, at_point.entries.rows, not problems, detail), problems
        )

    def _compare_source(self, engine: Engine, restored: Fingerprint, report: RestoreReport) -> None:
        self._progress(f"fingerprinting the source at seq {restored.seq}")
        began = time.monotonic()
        try:
            rows, problems = compare.against_source(
                self._source_url, engine, restored, self._progress
            )
        except OperationalError as error:  # the source may be what the disaster took
            rows, problems = 0, [f"the source cannot be reached (--no-source to skip): {error}"]
        detail = f"source at seq {restored.seq}"
        report.add(Step("= source", time.monotonic() - began, rows, not problems, detail), problems)


# -- helpers ------------------------------------------------------------------------------


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[Engine]:
    """The backup file, opened so that nothing (not even WAL mode) changes it."""
    engine = store.prepare(create_engine(f"sqlite:///file:{path}?mode=ro&uri=true"))
    try:
        yield engine
    finally:
        engine.dispose()


def _verify_sqlite(
    backup_file: Path, manifest: Manifest, report: RestoreReport, *, name: str
) -> None:
    began = time.monotonic()
    if not backup_file.exists():
        raise Rejected("backup_incomplete", f"no {name} in {backup_file.parent}")
    expected = manifest.files.get(name)
    actual = sqlite.sha256(backup_file)
    problems = [] if actual == expected else [f"{name}: sha256 differs from the manifest"]
    report.add(Step("verify backup", time.monotonic() - began, 0, not problems, "sha256"), problems)


def _set_rows(report: RestoreReport, name: str, rows: int) -> None:
    for i, step in enumerate(report.steps):
        if step.name == name:
            report.steps[i] = Step(step.name, step.seconds, rows, step.ok, step.detail)
