"""Shared fixtures: every test gets an empty, migrated database.

Without PAYCORE_DATABASE_URL the suite runs on SQLite files (one per test,
copied from a migrated template). With a PostgreSQL URL it migrates that
database once and empties the tables before each test.

The tests' temporary files live in memory (/dev/shm) when the machine has it: every
SQLite commit is fsynced (synchronous=FULL), and on a disk that was 6 ms a commit, most
of the suite's time. A test cannot see whether a commit reached the platter.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Router
from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.merchants.service import Merchants
from paycore.platform.config import Settings
from paycore.platform.db import make_engine, upgrade
from paycore.runtime import Runtime
from paycore.security.blind import BlindIndexer
from paycore.security.crypto import FieldCipher
from paycore.security.model import Scope
from paycore.security.service import ApiKeys
from paycore.tables import metadata
from paycore.web import fastlane
from paycore.web.app import create_app

pytest_plugins = ["tests.pii_guard"]  # no clear card, ID or phone number in any output

POSTGRES_URL = os.environ.get("PAYCORE_DATABASE_URL", "")
ON_POSTGRES = POSTGRES_URL.startswith("postgresql")

postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="needs PAYCORE_DATABASE_URL=postgresql")

MEMORY_DIR = Path("/dev/shm")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """tmp_path in memory unless --basetemp says where; removed when the run ends."""
    if config.option.basetemp or not (MEMORY_DIR.is_dir() and os.access(MEMORY_DIR, os.W_OK)):
        return
    basetemp = tempfile.mkdtemp(prefix="paycore-tests-", dir=MEMORY_DIR)
    config.option.basetemp = basetemp
    config.add_cleanup(lambda: shutil.rmtree(basetemp, ignore_errors=True))


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    if ON_POSTGRES:
        upgrade(POSTGRES_URL)
        _commit_without_waiting_for_the_disk(POSTGRES_URL)
        return POSTGRES_URL
    template = tmp_path_factory.mktemp("template") / "paycore.db"
    upgrade(f"sqlite:///{template}")
    return str(template)


def _commit_without_waiting_for_the_disk(url: str) -> None:
    """synchronous_commit=off for every later connection to the test database (the server's
    own setting is untouched): a commit is as visible to other sessions as before, only a
    crash of the server could lose it, and no test crashes the shared server."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            name = conn.execute(text("SELECT current_database()")).scalar_one()
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.exec_driver_sql(f"ALTER DATABASE {quoted} SET synchronous_commit = off")
    except ProgrammingError:
        pass  # not the database's owner: the tests run as before, only slower
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _emptier(_migrated_template: str) -> Iterator[Engine]:
    """One connection, kept for the run, that empties the PostgreSQL tables between tests."""
    engine = make_engine(POSTGRES_URL, pool_size=1)
    yield engine
    engine.dispose()


# DELETE, not TRUNCATE: on a test's handful of rows it is 3-4x faster, since TRUNCATE makes
# new files for every table (about a minute over the suite). All in one round trip.
_EMPTY_ALL = ";\n".join(
    [
        # The audit log refuses DELETE by trigger (append-only); a test database is emptied
        # as a DBA would, with triggers off for this transaction only.
        "SET LOCAL session_replication_role = replica",
        *(f'DELETE FROM "{table.name}"' for table in reversed(metadata.sorted_tables)),
        "SELECT setval(pg_get_serial_sequence('ledger_entries', 'seq'), 1, false)",
    ]
)


@pytest.fixture
def database_url(
    _migrated_template: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A URL of an empty, migrated database for this test alone."""
    if ON_POSTGRES:
        emptier: Engine = request.getfixturevalue("_emptier")
        with emptier.begin() as conn:
            conn.exec_driver_sql(_EMPTY_ALL)
        yield POSTGRES_URL
        return
    path = tmp_path / "paycore.db"
    shutil.copyfile(_migrated_template, path)
    yield f"sqlite:///{path}"
    # The copy is 600 KB and the run makes thousands; in memory they would add up.
    for leftover in (path, path.with_name("paycore.db-wal"), path.with_name("paycore.db-shm")):
        leftover.unlink(missing_ok=True)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger(engine: Engine, clock: ManualClock) -> Iterator[Ledger]:
    ledger = Ledger(engine, clock=clock)
    yield ledger
    ledger.close()


@pytest.fixture(scope="session")
def field_cipher() -> FieldCipher:
    """A cipher with a random key of this test session (no key file is written)."""
    return FieldCipher({"test1": os.urandom(32)}, "test1")


@pytest.fixture
def api_keys(runtime: Runtime) -> ApiKeys:
    """The app's own key service, so a revocation is seen by its cache at once."""
    return runtime.api_keys


@pytest.fixture
def merchants(runtime: Runtime) -> Merchants:
    return runtime.merchants


@pytest.fixture
def admin_key(api_keys: ApiKeys) -> str:
    """A platform key with the admin scope, in clear."""
    _key, clear = api_keys.issue(merchant_id=None, scopes=[Scope.ADMIN], label="tests")
    return clear


@pytest.fixture
def runtime(
    database_url: str, engine: Engine, clock: ManualClock, ledger: Ledger, field_cipher: FieldCipher
) -> Iterator[Runtime]:
    """Every service on the test database, with no channels (payment tests add their own)."""
    registry = ChannelRegistry(clock=clock)
    runtime = Runtime.build(
        Settings(database_url=database_url, expiry_interval_s=1.0),
        engine=engine,
        clock=clock,
        ledger=ledger,
        channels=Channels(registry, Router(registry, [])),
        cipher=field_cipher,
        blind_indexer=BlindIndexer({"test1": os.urandom(32)}, "test1"),
    )
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime, admin_key: str) -> Iterator[TestClient]:
    """The HTTP API, every request sent with the admin key unless a test overrides
    `Authorization` (or removes it: `client.headers.pop("Authorization")`)."""
    app = create_app(runtime=runtime)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


@pytest.fixture
def laned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths the web fast lane served, in order."""
    served: list[str] = []
    real = fastlane.LaneRequest

    def spy(**fields: Any) -> fastlane.LaneRequest:
        served.append(fields["scope"]["path"])
        return real(**fields)

    monkeypatch.setattr(fastlane, "LaneRequest", spy)
    yield served
