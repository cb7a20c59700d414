"""A database of its own for a migration test (the suite's is already at head): SQLite in
the test's folder, or a scratch PostgreSQL database made and dropped around the test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from paycore.platform.db import migrations_dir
from tests.conftest import ON_POSTGRES, POSTGRES_URL


@contextmanager
def scratch_database(backend: str, tmp_path: Path, name: str) -> Iterator[str]:
    """An empty database's URL; `name` tells the test's databases apart (a PostgreSQL
    database is named after it and this process)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    if not ON_POSTGRES:
        pytest.skip("needs PAYCORE_DATABASE_URL=postgresql")
    database = f"paycore_{name}_{os.getpid()}"
    server = create_engine(
        make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with server.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {database}")
    try:
        yield make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        server.dispose()


def downgrade(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.downgrade(config, revision)
