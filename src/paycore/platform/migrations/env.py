"""Alembic environment: runs migrations online against the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        # One transaction per migration: a migration that refuses (0032 while clear values
        # remain) leaves the ones before it applied, so the job it asks for can run.
        context.configure(
            connection=connection,
            render_as_batch=url.startswith("sqlite"),
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
