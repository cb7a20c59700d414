"""The PostgreSQL half of backup and restore-check: the WAL streamer and its slot around
the base backup, the backup's point, the backup's files opened for a restore, and waiting
for a restored copy to open."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from paycore.dr import pg, sealing, store
from paycore.dr.model import (
    ARCHIVE_WAIT_S,
    PG_BASE_DIR,
    PG_WAL_DIR,
    POLL_S,
    RECOVERY_TIMEOUT_S,
    Copied,
    Fingerprint,
    Point,
    Progress,
)
from paycore.security import files

FOLDERS = (PG_BASE_DIR, PG_WAL_DIR)


def backup(
    url: str, target_dir: Path, progress: Progress, *, cipher: files.FieldSealer | None
) -> Copied:
    """The backup (`_copy`), then with `cipher` every file of it sealed. An encrypted
    backup that fails, copying or sealing, removes its files: no clear data stays."""
    try:
        copied = _copy(url, target_dir, progress)
        if cipher is None:
            return copied
        sealed = sealing.seal_tree(
            target_dir, FOLDERS, cipher, backup_id=backup_id(copied.point), progress=progress
        )
    except BaseException:
        if cipher is not None:
            sealing.remove_clear(target_dir, FOLDERS)
        raise
    return dataclasses.replace(copied, sealed=sealed)


def backup_id(point: Point) -> str:
    """What names one backup in its data keys' contexts: its restore point (random)."""
    return point.restore_point or ""


def _copy(url: str, target_dir: Path, progress: Progress) -> Copied:
    """Stream WAL, take the base backup, mark the point; the slot is dropped at the end."""
    slot = f"paycore_dr_{secrets.token_hex(6)}"
    streamer = pg.WalStreamer(url, target_dir / PG_WAL_DIR, slot=slot)
    with store.open_engine(url) as engine:
        try:
            progress("streaming WAL (pg_receivewal)")
            with engine.begin() as conn:
                store.create_slot(conn, slot)
            streamer.start()
            _wait_streaming(engine, streamer)
            progress("base backup (pg_basebackup)")
            base_lsn = pg.base_backup(url, target_dir / PG_BASE_DIR)
            progress("marking the backup's point and fingerprinting the source")
            point, fingerprint = _mark_point(engine, slot)
            progress(f"waiting for the WAL archive to reach {point.lsn}")
            _wait_streamed(engine, streamer, point)
        finally:
            streamer.stop()
            _drop_slot(engine, slot)
    return Copied(point, fingerprint, base_lsn=base_lsn)


def opened(
    backup_dir: Path, cipher: files.FieldSealer, backup_id: str, verified: Callable[[], None]
) -> pg.Fill:
    """The Fill of a sealed backup: its files opened straight into the restore's private
    folder (the only clear copy), then pg_verifybackup on it (`verified` marks the end)."""

    def fill(data_dir: Path, wal_copy: Path) -> None:
        base = backup_dir / PG_BASE_DIR
        sealing.open_tree(base, data_dir, cipher, backup_dir=backup_dir, backup_id=backup_id)
        wal_copy.mkdir(mode=0o700)
        segments = pg.archive_segments(backup_dir / PG_WAL_DIR, files.SEALED_SUFFIX)
        sealing.open_files(
            ((segment, wal_copy / name) for segment, name in segments),
            cipher, backup_dir=backup_dir, backup_id=backup_id,
        )  # fmt: skip
        pg.verify(data_dir)
        verified()

    return fill


def _mark_point(engine: Engine, name: str) -> tuple[Point, Fingerprint]:
    options = {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        seq, lsn, timeline = store.create_point(conn, name)
        fingerprint = store.fingerprint(conn, seq)
    return Point(seq=seq, lsn=lsn, restore_point=name, timeline=timeline), fingerprint


def _wait_streamed(engine: Engine, streamer: pg.WalStreamer, point: Point) -> None:
    target = point.lsn or "0/0"

    def archived() -> bool:
        streamer.check_alive()
        with engine.connect() as conn:
            reached = store.streamed_to(conn, streamer.application_name)
            return reached is not None and store.lsn_reached(conn, reached=reached, target=target)

    pg.wait_until(archived, timeout_s=ARCHIVE_WAIT_S, what="the WAL archive reaching the point",
                  poll_s=POLL_S)  # fmt: skip


def wait_recovered(url: str, cluster: pg.Restored) -> None:
    """Until the copy has reached its target, ended recovery and takes connections."""
    with store.open_engine(url) as engine:

        def recovered() -> bool:
            try:
                with engine.connect() as conn:
                    return not store.in_recovery(conn)
            except OperationalError:
                cluster.check_running()
                return False

        pg.wait_until(recovered, timeout_s=RECOVERY_TIMEOUT_S, what="recovery", poll_s=POLL_S)


def _wait_streaming(engine: Engine, streamer: pg.WalStreamer) -> None:
    def connected() -> bool:
        streamer.check_alive()
        with engine.connect() as conn:
            return store.streaming(conn, streamer.application_name)

    pg.wait_until(connected, timeout_s=ARCHIVE_WAIT_S, what="pg_receivewal connecting",
                  poll_s=POLL_S)  # fmt: skip


def _drop_slot(engine: Engine, slot: str) -> None:
    """The slot would hold the source's WAL forever: drop it as soon as the walsender that
    served the stopped streamer has exited."""

    def dropped() -> bool:
        with engine.begin() as conn:
            return store.drop_slot(conn, slot)

    pg.wait_until(dropped, timeout_s=ARCHIVE_WAIT_S, what=f"dropping slot {slot}", poll_s=POLL_S)
