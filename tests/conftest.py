"""Shared fixtures: every test gets an empty, migrated database.

Without PAYCORE_DATABASE_URL the suite runs on SQLite files (one per test,
copied from a migrated template). With a PostgreSQL URL it migrates that
database once and empties the tables before each test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.ledger.store import metadata
from paycore.platform.db import make_engine, upgrade
from paycore.web.app import create_app

POSTGRES_URL = os.environ.get("PAYCORE_DATABASE_URL", "")
ON_POSTGRES = POSTGRES_URL.startswith("postgresql")

postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="needs PAYCORE_DATABASE_URL=postgresql")


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    if ON_POSTGRES:
        upgrade(POSTGRES_URL)
        return POSTGRES_URL
    template = tmp_path_factory.mktemp("template") / "paycore.db"
    upgrade(f"sqlite:///{template}")
    return str(template)


@pytest.fixture
def database_url(_migrated_template: str, tmp_path: Path) -> str:
    """A URL of an empty, migrated database for this test alone."""
    if ON_POSTGRES:
        engine = make_engine(POSTGRES_URL, pool_size=1)
        with engine.begin() as conn:
            names = ", ".join(t.name for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        engine.dispose()
        return POSTGRES_URL
    path = tmp_path / "paycore.db"
    shutil.copyfile(_migrated_template, path)
    return f"sqlite:///{path}"


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


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with TestClient(create_app(ledger=ledger)) as client:
        yield client
