"""PostgreSQL: a base backup and the WAL streamed while transfers post, recovered by a
temporary postmaster to the backup's point (or an earlier target) and checked there.

The source is a private cluster (tests/bills/replica_cluster.py's programs, no replica):
the shared server refuses replication connections, and its base backup would copy every
database on it.
"""

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
from paycore.dr import store
from paycore.dr.model import Target
from paycore.dr.service import DisasterRecovery
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.platform.db import make_engine, upgrade
from tests.bills import replica_cluster as cluster
from tests.conftest import postgres_only
from tests.dr.journal_kit import open_accounts, post, posting_meanwhile

pytestmark = postgres_only


@pytest.fixture(scope="module")
def primary() -> Iterator[str]:
    """A migrated private primary's URL for this module; stopped and removed at its end."""
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


def _last_seq(engine: Engine) -> int:
    with engine.connect() as conn:
        return store.last_seq(conn)


def test_a_backup_taken_while_transfers_post_recovers_to_its_point_and_passes_every_check(
    primary: str, source: tuple[Engine, Ledger, list[str]], tmp_path: Path
) -> None:
    engine, ledger, accounts = source
    post(ledger, accounts, "tr_pg", transfers=3000)
    before = _last_seq(engine)
    dr = DisasterRecovery(source_url=primary, clock=ManualClock())
    with posting_meanwhile(ledger, accounts, "tr_pg_live") as batches:
        manifest = dr.backup(tmp_path / "backup")
    post(ledger, accounts, "tr_pg_after", transfers=300)

    report = dr.restore_check(tmp_path / "backup")

    assert report.ok, report.mismatches
    assert batches[0] > 0
    assert before <= manifest.point.seq <= report.restored_seq < _last_seq(engine)
    assert manifest.point.restore_point and manifest.point.lsn
    assert (tmp_path / "backup" / "base" / "backup_manifest").exists()
    assert {s.name for s in report.steps if s.ok} >= {
        "verify backup", "restore", "ledger check", "flow check", "= backup manifest", "= source"
    }  # fmt: skip


def test_a_restore_to_an_earlier_lsn_matches_the_source_at_that_earlier_journal_point(
    primary: str, source: tuple[Engine, Ledger, list[str]], tmp_path: Path
) -> None:
    _engine, ledger, accounts = source
    post(ledger, accounts, "tr_early", transfers=600)
    dr = DisasterRecovery(source_url=primary, clock=ManualClock())
    with posting_meanwhile(ledger, accounts, "tr_early_live"):
        manifest = dr.backup(tmp_path / "backup")
    end_of_base = manifest.base_lsn["end_lsn"]

    report = dr.restore_check(tmp_path / "backup", target=Target(lsn=end_of_base))

    assert report.ok, report.mismatches
    assert report.restored_seq <= manifest.point.seq
    compared = next(s for s in report.steps if s.name == "= source")
    assert compared.detail == f"source at seq {report.restored_seq}"


def test_a_target_beyond_the_archive_fails_the_restore_and_leaves_no_server_behind(
    primary: str, source: tuple[Engine, Ledger, list[str]], tmp_path: Path
) -> None:
    _engine, ledger, accounts = source
    post(ledger, accounts, "tr_beyond", transfers=60)
    dr = DisasterRecovery(source_url=primary, clock=ManualClock())
    dr.backup(tmp_path / "backup")
    before = set(Path(tempfile.gettempdir()).glob("paycore-dr-*"))

    with pytest.raises(Rejected) as refused:
        dr.restore_check(tmp_path / "backup", target=Target(lsn="FF/0"))

    assert refused.value.code == "restore_failed"
    assert "recovery ended before configured recovery target was reached" in refused.value.detail
    assert set(Path(tempfile.gettempdir()).glob("paycore-dr-*")) == before
