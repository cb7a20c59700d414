"""PostgreSQL's source for the dr tests: a private cluster (tests/bills/replica_cluster.py's
programs, no replica), one for the session, shared by every module that backs it up. The
shared server refuses replication connections, and its base backup would copy every
database on it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.platform.db import make_engine, upgrade
from tests.bills import replica_cluster as cluster
from tests.dr.journal_kit import open_accounts


@pytest.fixture(scope="session")
def primary() -> Iterator[str]:
    """A migrated private primary's URL; stopped and removed at the session's end."""
    bin_dir = cluster._bin_dir()
    cluster._remove_abandoned(bin_dir)
    with contextlib.ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix=cluster._PREFIX))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        (root / cluster._OWNER_FILE).write_text(str(os.getpid()))
        cluster._give_to_postgres(root)
        server = cluster.Server("primary", cluster._free_port(), root / "primary")
        cluster._run(bin_dir / "initdb", "-D", server.data_dir, "-U", "postgres",
                     "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        cluster._start(bin_dir, server, root, stack)
        with server.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {cluster.DATABASE}")
        upgrade(server.url())
        yield server.url()


@pytest.fixture
def source(primary: str) -> Iterator[tuple[Engine, Ledger, list[str]]]:
    engine = make_engine(primary, pool_size=4)
    ledger = Ledger(engine, clock=ManualClock())
    accounts = open_accounts(ledger)
    try:
        yield engine, ledger, accounts
    finally:
        ledger.close()
        engine.dispose()
