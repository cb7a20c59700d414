"""Two imports of overlapping files at the same moment: the line they share is kept exactly
once, the other import counting it as repeated (PostgreSQL; SQLite has a single writer)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from paycore.recon import store
from paycore.recon.service import Recon
from tests.conftest import postgres_only
from tests.recon.conftest import Row, write_statement

HELD_OPEN_S = 0.5
"""How long each import keeps its transaction open after looking for repeats: long enough
that, unserialised, both would look before either commits."""


@postgres_only
def test_two_imports_sharing_a_line_at_the_same_moment_keep_it_exactly_once(
    recon: Recon, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = store.drop_repeats

    def drop_then_hold(conn: Connection, *, import_id: str, source: str) -> int:
        dropped = drop(conn, import_id=import_id, source=source)
        time.sleep(HELD_OPEN_S)
        return dropped

    monkeypatch.setattr(store, "drop_repeats", drop_then_hold)
    # ANALYZE inside an import's transaction happens to queue the next import behind it
    # (its lock is held until commit): the serialising must not hang on that side effect.
    monkeypatch.setattr(store, "refresh_statistics", lambda conn: None)
    files = [
        write_statement(tmp_path / f"{name}.csv", [Row(f"{name}-own", 100), Row("SHARED", 500)])
        for name in ("first", "second")
    ]
    start = threading.Barrier(len(files))
    errors: list[BaseException] = []

    def import_file(path: Path) -> None:
        try:
            start.wait(timeout=10)
            recon.import_file(path, format="test_csv", source="alpha")
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=import_file, args=(path,)) for path in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert _flags_of(engine, "SHARED") == [False]  # unserialised: both kept, [False, False]
    with engine.connect() as conn:
        repeated = conn.execute(select(store.imports.c.repeated_lines)).scalars().all()
    assert sorted(repeated) == [0, 1]
    assert _flags_of(engine, "first-own") == _flags_of(engine, "second-own") == [False]


def _flags_of(engine: Engine, source_ref: str) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(store.lines.c.duplicate).where(store.lines.c.source_ref == source_ref)
        )
        return [r[0] for r in rows]
