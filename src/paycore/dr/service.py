"""Backup and restore-check: the use cases behind `paycore dr`.

`backup` writes a consistent copy of the ledger's database and a manifest naming its point
(the journal's last seq; on PostgreSQL also the named restore point in the WAL) with the
ledger's fingerprint there. `restore_check` restores the copy into a fresh database, runs
the ledger's self-check and the flow check on it, and proves it is the source as of that
point: the restored fingerprint equals the manifest's and the live source's at the same
seq, and the restored accounts' balances equal each account's balance recomputed from the
journal at that seq. The first differing journal position is found by bisection over seq
ranges, digests on both sides, so a difference is named, not only detected.

Encrypted backups (`backup(..., encrypt=True)`, `paycore dr backup --encrypt`): SQLite's
copy is made in a private temporary folder and kept only as `paycore.db.enc`
(security/files.py), its data key sealed with the static field key (PAYCORE_FIELD_KEYS),
which a restore needs and nothing else: not the database's own data keys, which are inside
the backup. A PostgreSQL base backup and its WAL are not encrypted by paycore: they are
written by pg_basebackup and pg_receivewal into a folder the operator names; put that
folder on an encrypted volume (LUKS) or ship it with the storage's server-side encryption.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import OperationalError

from paycore.clock import Clock
from paycore.consistency.service import FlowCheck
from paycore.dr import pg, service_pg, sqlite, store
from paycore.dr.model import (
    DIFFERENCES_NAMED_MAX,
    MANIFEST_NAME,
    PG_BASE_DIR,
    PG_WAL_DIR,
    SQLITE_FILE_NAME,
    Copied,
    Digest,
    Fingerprint,
    Kind,
    Manifest,
    Point,
    Progress,
    RestoreReport,
    Step,
    Target,
    differences,
    first_differing,
    without_password,
)
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.security import files

SEALED_SQLITE_FILE_NAME = SQLITE_FILE_NAME + files.SEALED_SUFFIX
BACKUP_FILE_KIND = "dr_backup"
"""The file kind a backup's data key is sealed under (security/files.py)."""


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
        """Seals SQLite backups made with `encrypt=True` and opens sealed ones. Give the
        static-key cipher (`load_field_cipher(settings)`, not bound): a data key kept in
        the database being backed up would be inside the backup it must open."""

    # -- backup -------------------------------------------------------------------------

    def backup(self, target_dir: Path, *, encrypt: bool = False) -> Manifest:
        """A consistent backup of the source into `target_dir` (new or empty); with
        `encrypt`, SQLite's copy is kept only encrypted (`paycore.db.enc`)."""
        if target_dir.exists() and any(target_dir.iterdir()):
            raise Rejected("backup_target_not_empty", f"{target_dir} is not empty")
        target_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        created_at = self._clock.now()
        kind = kind_of(self._source_url)
        if encrypt and (kind is not Kind.SQLITE or self._cipher is None):
            raise Rejected(
                "backup_encryption_unsupported",
                "only a SQLite backup is encrypted here, and it needs the field cipher",
            )
        if kind is Kind.SQLITE:
            copied = self._backup_sqlite(target_dir, encrypt=encrypt)
        else:
            copied = service_pg.backup(self._source_url, target_dir, self._progress)
        manifest = Manifest(
            kind=kind,
            source_url=without_password(self._source_url),
            created_at=created_at,
            point=copied.point,
            fingerprint=copied.fingerprint,
            files=copied.files,
            base_lsn=copied.base_lsn,
            took_s=time.monotonic() - began,
        )
        (target_dir / MANIFEST_NAME).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
        return manifest

    def _backup_sqlite(self, target_dir: Path, *, encrypt: bool) -> Copied:
        # Encrypted: the clear copy is made and fingerprinted in a private temporary
        # folder, never in the backup folder.
        with files.clear_scratch(SQLITE_FILE_NAME) as scratch:
            copy = scratch if encrypt else target_dir / SQLITE_FILE_NAME
            self._progress("copying the database (SQLite online backup)")
            sqlite.backup(sqlite.database_path(self._source_url), copy)
            self._progress("fingerprinting the copy")
            with _read_only(copy) as engine, engine.connect() as conn:
                seq = store.last_seq(conn)
                fingerprint = store.fingerprint(conn, seq)
            if encrypt and self._cipher is not None:
                self._progress("encrypting the copy")
                sealed = target_dir / SEALED_SQLITE_FILE_NAME
                files.seal_file(copy, sealed, self._cipher, kind=BACKUP_FILE_KIND)
                return Copied(Point(seq=seq), fingerprint, {sealed.name: sqlite.sha256(sealed)})
        return Copied(Point(seq=seq), fingerprint, files={SQLITE_FILE_NAME: sqlite.sha256(copy)})

    # -- restore-check --------------------------------------------------------------------

    def restore_check(
        self, backup_dir: Path, *, target: Target | None = None, compare_source: bool = True
    ) -> RestoreReport:
        """Restore `backup_dir` into a fresh database, check it, compare it; never raises
        for a mismatch (the report says what differs), only for a backup that cannot load."""
        target = target or Target()
        manifest = read_manifest(backup_dir)
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
        self._progress("verifying the base backup (pg_verifybackup)")
        pg.verify(backup_dir / PG_BASE_DIR)
        report.add(Step("verify backup", time.monotonic() - began, 0, True, "pg_verifybackup"))
        self._progress("restoring: copy, then recovery from the WAL archive")
        with pg.restored_cluster(
            backup_dir / PG_BASE_DIR, backup_dir / PG_WAL_DIR, target, manifest.point.restore_point
        ) as cluster:
            service_pg.wait_recovered(cluster.url(self._source_url), cluster)
            report.restore_s = time.monotonic() - began
            where = "the backup's point" if target.is_backup_point else "the target"
            report.add(Step("restore", report.restore_s, 0, True, f"recovered to {where}"))
            yield cluster.url(self._source_url), cluster.server_cpu_s

    def _restore_sqlite(self, backup_file: Path, target: Path, *, sealed: bool) -> None:
        if not sealed:
            sqlite.restore(backup_file, target)
        elif self._cipher is None:
            raise Rejected("backup_encrypted", "an encrypted backup needs the field cipher")
        else:  # decrypted straight into the scratch database: the only clear copy
            files.unseal_file(backup_file, target, self._cipher, kind=BACKUP_FILE_KIND)

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
            at_point = _at_point(conn, manifest, target, restored)
        report.restored_seq = seq
        _set_rows(report, "restore", rows["ledger_entries"])
        report.add(
            Step(
                "balances = journal", time.monotonic() - began, live.rows, live == restored.balances
            ),
            _balance_problems(live, restored.balances, seq),
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
            rows, problems = _against_source(self._source_url, engine, restored, self._progress)
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


def _at_point(
    conn: Connection, manifest: Manifest, target: Target, restored: Fingerprint
) -> Fingerprint | None:
    """The restored ledger at the manifest's seq, when the restore reaches that far."""
    point = manifest.fingerprint.seq
    if restored.seq == point:
        return restored
    if restored.seq > point or target.is_backup_point:
        # Past the point: compare the prefix. Short of the backup's own point: a loss.
        return store.fingerprint(conn, point) if restored.seq > point else restored
    return None


def _set_rows(report: RestoreReport, name: str, rows: int) -> None:
    for i, step in enumerate(report.steps):
        if step.name == name:
            report.steps[i] = Step(step.name, step.seconds, rows, step.ok, step.detail)


def _balance_problems(live: Digest, journal: Digest, seq: int) -> list[str]:
    if live == journal:
        return []
    return [
        f"accounts' balances differ from the journal's at seq {seq}: {live.rows} accounts "
        f"with a balance (journal: {journal.rows}), credits_posted {live.amount} "
        f"(journal: {journal.amount})"
    ]


def _against_source(
    source_url: str, engine: Engine, restored: Fingerprint, progress: Progress
) -> tuple[int, list[str]]:
    """The source's fingerprint at the restored seq against the restored one; on a
    difference, where the journals first part."""
    with (
        store.open_engine(source_url) as source_engine,
        source_engine.connect() as source,
        engine.connect() as copy,
    ):
        expected = store.fingerprint(source, restored.seq)
        problems = differences(expected, restored)
        if problems:
            progress("bisecting the journals for the first difference")
            problems += _first_differences(copy, source, restored.seq)
    return expected.entries.rows, problems


def _first_differences(copy: Connection, source: Connection, seq: int) -> list[str]:
    found = []
    for part in ("entries", "transfers"):

        def same(lo: int, hi: int, part: str = part) -> bool:
            return store.digest(copy, part, lo=lo, hi=hi) == store.digest(
                source, part, lo=lo, hi=hi
            )

        first = first_differing(0, seq, same)
        if first is None:
            continue
        restored_entry = store.entry_at(copy, first)
        source_entry = store.entry_at(source, first)
        found.append(
            f"{part}: first difference at seq {first}: restored {_name(restored_entry)}, "
            f"source {_name(source_entry)}"
        )
    return found


def _name(entry: tuple[str, str] | None) -> str:
    return "nothing" if entry is None else f"transfer {entry[0]} (account {entry[1]})"
