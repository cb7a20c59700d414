"""A backup's data files sealed at rest, and opened again only into a restore's private
temporary folder.

Every file of a PostgreSQL backup (the base backup with its `backup_manifest` and WAL, the
streamed WAL) is sealed in place by security/files.py: a fresh data key per file, sealed
by the field cipher, AES-256-GCM in chunks. The data key's context names the backup and
the file's path in it, so a sealed file moved to another path or copied from another
backup does not open. Each file is sealed to `<name>.enc` (written aside and renamed, so
a half-sealed file never has that name) before its clear copy is deleted: a crash leaves
every byte in at least one of the two forms, and the clear files it leaves are refused by
a restore-check (`backup_not_sealed`). The folders stay: their names hold no data and
PostgreSQL needs its empty ones. Only `paycore-backup.json` (no personal data) is clear.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from paycore.dr.model import MANIFEST_NAME, Progress, Sealed
from paycore.errors import Rejected
from paycore.security import files

FILE_KIND = "dr_backup"
"""The file kind a backup's data keys are sealed under (security/files.py)."""
_PARTIAL = ".sealing"  # security/files.py's name for a file being sealed
WORKERS = 8
"""Files sealed or opened at once. Each sealed file is synced before its clear copy goes,
and a base backup is a thousand small files: one at a time, the syncs, not AES, set the
pace (21 MB/s against 121 MB/s with 8 on this VM); AES-GCM itself runs at ~200 MB/s."""


def kind_of(backup_id: str, relative: str) -> str:
    """A data key's kind for the file at `relative` (clear name, '/'-separated) in the
    backup `backup_id`: it binds the sealed file to its place."""
    return f"{FILE_KIND}:{backup_id}:{relative}"


def seal_tree(
    backup_dir: Path,
    folders: tuple[str, ...],
    cipher: files.FieldSealer,
    *,
    backup_id: str,
    progress: Progress,
) -> Sealed:
    """Seal every clear file under `backup_dir`/<folder> and remove its clear copy."""
    progress(f"sealing the backup's files ({', '.join(folders)})")
    began = time.monotonic()

    def seal(path: Path) -> Callable[[], int]:
        def task() -> int:
            relative = path.relative_to(backup_dir).as_posix()
            sealed = path.with_name(path.name + files.SEALED_SUFFIX)
            done = files.seal_file(path, sealed, cipher, kind=kind_of(backup_id, relative))
            path.unlink()  # only once its sealed copy is complete and synced
            return done

        return task

    clear = [p for f in folders for p in sorted(_files(backup_dir / f)) if not _is_sealed_name(p)]
    return Sealed(len(clear), _run_all(seal(p) for p in clear), time.monotonic() - began)


def _run_all(tasks: Iterable[Callable[[], int]]) -> int:
    """Run the tasks on WORKERS threads, summing their results; at the first failure the
    tasks not yet started are cancelled and the failure raised."""
    total = 0
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="paycore-dr-seal") as pool:
        futures = [pool.submit(task) for task in tasks]
        try:
            for future in as_completed(futures):
                total += future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return total


def clear_files(backup_dir: Path) -> list[str]:
    """The files of a backup folder that are neither sealed nor its manifest."""
    return sorted(
        path.relative_to(backup_dir).as_posix()
        for path in _files(backup_dir)
        if not _is_sealed_name(path) and path.name != MANIFEST_NAME
    )


def refuse_clear(backup_dir: Path) -> None:
    """An encrypted backup with clear files left (a backup that crashed while sealing, or
    files added to it) is not restored: `backup_not_sealed`."""
    clear = clear_files(backup_dir)
    if clear:
        shown = ", ".join(clear[:3]) + (", …" if len(clear) > 3 else "")
        raise Rejected(
            "backup_not_sealed",
            f"an encrypted backup holds {len(clear)} clear file(s): {shown}",
        )


def remove_clear(backup_dir: Path, folders: tuple[str, ...]) -> None:
    """After a failed encrypted backup: its data folders go, clear or sealed (without a
    manifest the backup cannot be used anyway, and clear data must not stay)."""
    for folder in folders:
        shutil.rmtree(backup_dir / folder, ignore_errors=True)


def open_tree(
    source: Path, target: Path, cipher: files.FieldSealer, *, backup_dir: Path, backup_id: str
) -> int:
    """Open every sealed file under `source` (a folder of the backup) into the same place
    under `target` (a private temporary folder), folders included; the clear bytes opened.
    `file_tampered`, naming the file, when one does not open."""
    target.mkdir(mode=0o700)
    for folder in sorted(p for p in source.rglob("*") if p.is_dir()):
        (target / folder.relative_to(source)).mkdir(mode=0o700, exist_ok=True)
    return open_files(
        ((path, target / path.relative_to(source)) for path in sorted(_files(source))),
        cipher, backup_dir=backup_dir, backup_id=backup_id,
    )  # fmt: skip


def open_files(
    pairs: Iterable[tuple[Path, Path]],
    cipher: files.FieldSealer,
    *,
    backup_dir: Path,
    backup_id: str,
) -> int:
    """Open each sealed file into its clear path (`.enc` dropped from its name)."""

    def opener(path: Path, clear: Path) -> Callable[[], int]:
        clear = clear.with_name(clear.name.removesuffix(files.SEALED_SUFFIX))
        return lambda: open_file(path, clear, cipher, backup_dir=backup_dir, backup_id=backup_id)

    return _run_all(opener(path, clear) for path, clear in pairs)


def open_file(
    path: Path, target: Path, cipher: files.FieldSealer, *, backup_dir: Path, backup_id: str
) -> int:
    relative = path.relative_to(backup_dir).as_posix().removesuffix(files.SEALED_SUFFIX)
    if not path.name.endswith(files.SEALED_SUFFIX):
        raise Rejected("backup_not_sealed", f"{relative} is not sealed")
    try:
        return files.unseal_file(path, target, cipher, kind=kind_of(backup_id, relative))
    except Rejected as error:
        if error.code != "file_tampered":
            raise
        why = error.detail.split(": ", 1)[-1]
        raise Rejected("file_tampered", f"{relative}{files.SEALED_SUFFIX}: {why}") from None


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(_PARTIAL))


def _is_sealed_name(path: Path) -> bool:
    return path.name.endswith(files.SEALED_SUFFIX)
