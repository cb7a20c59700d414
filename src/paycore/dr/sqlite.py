"""SQLite's backup: the online backup API, one step, while the server keeps writing.

`sqlite3.Connection.backup` with every page in one step reads the database inside one read
transaction: in WAL mode writers go on committing to the WAL meanwhile, and the copy is the
database as of the moment the step began (a step-by-step copy would restart whenever
another connection wrote). Restoring is copying the file back.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from paycore.errors import Rejected

_CHUNK_BYTES = 1 << 20


def database_path(url: str) -> Path:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise Rejected("backup_source_invalid", f"{url} is not a SQLite file")
    return Path(path)


def backup(source: Path, target: Path) -> None:
    """Copy the live database at `source` into a new file `target`, consistently."""
    if not source.exists():
        raise Rejected("backup_source_invalid", f"no SQLite database at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # pages=-1: every page in one step, one snapshot
        # The copy is a file of its own: no WAL beside it, whatever the source used.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def restore(backup_file: Path, target: Path) -> None:
    """A fresh database at `target` from the backup file (never the backup itself)."""
    if not backup_file.exists():
        raise Rejected("backup_incomplete", f"no {backup_file.name} in {backup_file.parent}")
    shutil.copyfile(backup_file, target)
