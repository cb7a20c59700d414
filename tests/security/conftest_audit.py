"""Fixtures of the audit log and reveal tests (import them into a test module).

The payers' numbers are built from short pieces, so no literal of a test source holds
them: tests/pii_guard.py does not know them, and these tests check themselves that the
clear values show nowhere but in the reveal answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from paycore.clock import ManualClock
from paycore.payments import store as payments_store
from paycore.payments.model import Order, OrderKind, OrderStatus
from paycore.runtime import Runtime
from paycore.security import api_reveal
from paycore.security.audit import AuditEntry
from paycore.security.crypto import FieldCipher
from paycore.security.reveal import AuditLog, Reveals, payment_sources
from paycore.web.app import create_app

CARD = "".join(("6259", "7744", "0216", "8855", "012"))
ID_NUMBER = "".join(("440304", "1985", "1122", "631X"))
PHONE = "".join(("158", "7092", "6413"))
NAME = "Li Lei"
ACCOUNT = "".join(("6212", "2633", "1147", "5599"))
CLEAR_VALUES = (CARD, ID_NUMBER, PHONE, ACCOUNT)
REASON = "customer called about a disputed charge, ticket 4711"


@contextmanager
def as_dba(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the append-only triggers do not fire, as a DBA could make
    one: on PostgreSQL by session_replication_role, on SQLite by dropping the triggers
    and making them again before the commit (DDL is transactional there)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            yield conn
            return
        triggers = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": "audit_log"},
        ).all()
        for name, _sql in triggers:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        yield conn
        for _name, sql in triggers:
            conn.exec_driver_sql(sql)


@pytest.fixture
def audit_log(engine: Engine, clock: ManualClock, field_cipher: FieldCipher) -> AuditLog:
    """On PostgreSQL the tables are shared by the run: start from an empty log."""
    if engine.dialect.name == "postgresql":
        with as_dba(engine) as conn:
            conn.exec_driver_sql("DELETE FROM audit_log")
            conn.exec_driver_sql("DELETE FROM audit_chain_head")
    return AuditLog(engine, clock, cipher=field_cipher)


@pytest.fixture
def reveals(runtime: Runtime, audit_log: AuditLog) -> Reveals:
    return Reveals(audit_log, payment_sources(runtime.payments))


@pytest.fixture
def reveal_client(runtime: Runtime, reveals: Reveals, admin_key: str) -> Iterator[TestClient]:
    """The HTTP API with the reveal routes (mounted here until the app mounts them)."""
    app = create_app(runtime=runtime)
    if not any(getattr(r, "path", "") == "/v1/pii/reveal" for r in app.routes):
        app.include_router(api_reveal.router)
    app.state.reveals = reveals
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


def add_order(
    engine: Engine,
    cipher: FieldCipher,
    clock: ManualClock,
    *,
    order_id: str,
    merchant_id: str,
    kind: OrderKind = OrderKind.PAYIN,
) -> Order:
    """An order as the payments slice stores it: party encrypted under `<id>:<field>`."""
    party = (
        {"card_number": CARD, "name": NAME, "id_number": ID_NUMBER, "phone": PHONE}
        if kind is OrderKind.PAYIN
        else {"account_number": ACCOUNT, "name": NAME}
    )
    now = clock.now()
    order = Order(
        id=order_id,
        kind=kind,
        merchant_id=merchant_id,
        product="rent" if kind is OrderKind.PAYIN else "payout",
        amount=250000,
        currency="CNY",
        status=OrderStatus.SUCCEEDED,
        created_at=now,
        updated_at=now,
        party_enc={k: cipher.encrypt(v, context=f"{order_id}:{k}") for k, v in party.items()},
        party_masked={k: "***" for k in party},
        expires_at=now + timedelta(hours=1),
    )
    with engine.begin() as conn:
        payments_store.insert_order(conn, order)
    return order


def entry(clock: ManualClock, n: int = 0, **changes: Any) -> AuditEntry:
    values: dict[str, Any] = {
        "at": clock.now(),
        "actor_key_id": f"key_{n}",
        "merchant_id": None,
        "action": "pii.reveal",
        "object_type": "payin",
        "object_id": f"pay_{n}",
        "fields": ("card_number", "name"),
        "reason": f"{REASON} #{n}",
        "request_id": f"req_{n}",
    }
    values.update(changes)
    return AuditEntry(**values)


def show_nowhere(text_seen: str) -> None:
    for value in CLEAR_VALUES:
        assert value not in text_seen
