"""A database of its own at 0031 (the clear C2 columns still there, the suite's database is
at head), rows as releases before 0028-0030 left them (clear values, written with plain SQL),
and the draft of migration 0032 run against it. Imported by the tests of old rows."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, bindparam, text

from paycore.platform.db import UTCDateTime, make_engine, migrations_dir, upgrade
from tests.migration_kit import scratch_database

LEGACY = "0031_seal_audit_reason"
DRAFT_0032 = migrations_dir() / "versions" / "0032_drop_clear_c2.py"

_AT = bindparam("at", type_=UTCDateTime())


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database migrated to 0031, SQLite or a scratch PostgreSQL database."""
    with scratch_database(request.param, tmp_path, "legacy") as url:
        upgrade(url, LEGACY)
        yield url


@pytest.fixture
def legacy_engine(legacy_url: str) -> Iterator[Engine]:
    engine = make_engine(legacy_url)
    yield engine
    engine.dispose()


def migration_0032() -> ModuleType:
    spec = importlib.util.spec_from_file_location("drop_clear_c2_0032", DRAFT_0032)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_0032(engine: Engine) -> None:
    """0032's upgrade in a transaction of its own, as migrations/env.py runs it."""
    with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        migration_0032().upgrade()


def insert_clear_answer(
    engine: Engine, *, merchant_id: str, key: str, response: str, at: datetime
) -> None:
    """An idempotency key answered before 0030: `response` (JSON text) in clear."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO idempotency_keys (merchant_id, key, request_hash, object_id,"
                " status_code, response, created_at)"
                " VALUES (:m, :k, 'h', 'pay_old', 201, :response, :at)"
            ).bindparams(_AT),
            {"m": merchant_id, "k": key, "response": response, "at": at},
        )


def insert_clear_event(engine: Engine, *, event_id: str, payload: str, at: datetime) -> None:
    """An event (and its pending delivery) written before 0030: `payload` (JSON text) in
    clear."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO notification_events (id, merchant_id, type, object_id, payload,"
                " created_at) VALUES (:i, 'mer_a', 'payin.succeeded', 'pay_old', :p, :at)"
            ).bindparams(_AT),
            {"i": event_id, "p": payload, "at": at},
        )
        conn.execute(
            text(
                "INSERT INTO notification_deliveries (event_id, merchant_id, status, attempts,"
                " next_attempt_at) VALUES (:i, 'mer_a', 'pending', 0, :at)"
            ).bindparams(_AT),
            {"i": event_id, "at": at},
        )


def insert_clear_order(
    engine: Engine, *, order_id: str, description: str, metadata: str, at: datetime
) -> None:
    """A pay-in written before 0029: its description and metadata (JSON text) in clear."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO payment_orders (id, kind, merchant_id, product, amount, currency,"
                " fee_amount, status, result_unknown, failure_message, refunded_amount,"
                " description, party_enc, party_masked, metadata, created_at, updated_at,"
                " query_attempts, version) VALUES (:i, 'payin', 'm1', 'p', 100, 'CNY', 0,"
                " 'succeeded', false, '', 0, :d, '{}', '{}', :m, :at, :at, 0, 1)"
            ).bindparams(_AT),
            {"i": order_id, "d": description, "m": metadata, "at": at},
        )


def clear_values(engine: Engine, table: str, column: str) -> list[Any]:
    with engine.connect() as conn:
        query = f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"
        return [r[0] for r in conn.execute(text(query))]
