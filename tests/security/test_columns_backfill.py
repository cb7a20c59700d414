"""Rows written in clear before migrations 0028-0030 are sealed by the encrypt backfill, in
pages, resumably, on a database still at 0031 (the code's tables no longer name the clear
columns); migration 0032 refuses while any is left and drops them after; the migration
0028 masks the personal numbers of stored recon warnings."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.custody.model import DEFAULT_BANK
from paycore.custody.subaccounts import SubAccounts, VirtualAccounts
from paycore.errors import InvariantViolation
from paycore.ledger.service import Ledger
from paycore.notifications.service import Notifications
from paycore.payments import store_idempotency
from paycore.payments.details import open_order_details
from paycore.payments.store import orders
from paycore.platform.db import make_engine, upgrade
from paycore.recon import store_lines
from paycore.recon.model import Direction, LineKind, LineStatus, StatementLine
from paycore.recon.store import lines
from paycore.recon.store_lines import account_context
from paycore.rewards.files import csv_file
from paycore.rewards.service import Rewards
from paycore.security.blind import BlindIndexer
from paycore.security.cli_columns import columns_app
from paycore.security.columns_backfill import CLEAR_COLUMNS, PENDING_MOVES, EncryptBackfill
from paycore.security.crypto import FieldCipher
from tests.security.legacy_db import (
    clear_values,
    insert_clear_answer,
    insert_clear_event,
    insert_clear_order,
    legacy_engine,  # noqa: F401
    legacy_url,  # noqa: F401
    migration_0032,
    run_0032,
)

VIRTUAL_ACCOUNT = "6228000011112222333"
LINE_ACCOUNT = "6228000044445555666"
CARD = "6222021234567890123"
ANSWER = {"id": "pay_old", "status": "processing", "payer": {"card_number": "622202******0123"}}
PAYLOAD = {"order_id": "pay_old", "description": "November rent"}
MOVED = {
    "custody_subaccounts.virtual_account": 2,
    "recon_lines.account": 1,
    "rewards_rows.note": 3,
    "idempotency_keys.response": 1,
    "notification_events.payload": 1,
    "payment_orders.description": 2,  # the metadata goes with it: one token per order
    "payment_orders.metadata": 0,
}
ORDER_TEXT = ("Rent for flat 3", {"room": "3"})


def _clear_rows(engine: Engine, clock: ManualClock, cipher: FieldCipher) -> None:
    """What releases before 0028-0030 left: two sub-accounts, a statement line, reward
    notes, an idempotent answer and an event payload, all in clear. Plain SQL (rows the
    services write now are sealed, and their tables no longer name the clear columns)."""
    with engine.begin() as conn:
        for owner, number in (("buyer1", VIRTUAL_ACCOUNT), ("buyer2", "6228000011112222444")):
            conn.execute(
                text(
                    "INSERT INTO custody_subaccounts (bank, merchant_id, owner, role,"
                    " virtual_account, account_id, currency, created_at) VALUES"
                    " (:bank, 'm1', :owner, 'buyer', :number, :account, 'CNY', :at)"
                ),
                {
                    "bank": DEFAULT_BANK.name,
                    "owner": owner,
                    "number": number,
                    "account": f"acc_{owner}",
                    "at": "2026-03-01 00:00:00.000000",
                },
            )
        line = StatementLine(
            line_no=1,
            source_ref="R1",
            kind=LineKind.PAYIN,
            direction=Direction.CREDIT,
            amount=100,
            currency="CNY",
            booked_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
            status=LineStatus.SUCCEEDED,
        )
        row = store_lines.line_row(line, import_id="imp1", source="bank_x", carries_fee=False)
        store_lines.LineWriter(conn).write([row])
        conn.execute(text("UPDATE recon_lines SET account = :a"), {"a": LINE_ACCOUNT})
    # The batch's rows come from the service (sealed), then back to their clear form.
    ledger = Ledger(engine, clock=clock)
    try:
        rewards = Rewards(engine=engine, ledger=ledger, clock=clock, cipher=cipher)
        rewards.create_budget(
            "m1", "b1", name="Spring", currency="CNY", row_amount_max=900, recipient_total_max=900
        )
        body = b"recipient,amount,note\nu1,100,thanks\nu2,200,\nu3,300,hi\n"
        rewards.pay("m1", budget_id="b1", batch_id="batch1", source=csv_file(body))
    finally:
        ledger.close()
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE rewards_rows SET note_enc = NULL, note = CASE recipient"
                " WHEN 'u1' THEN 'thanks' WHEN 'u3' THEN 'hi' ELSE '' END"
            )
        )
    at = clock.now()
    insert_clear_answer(engine, merchant_id="m1", key="k-old", response=json.dumps(ANSWER), at=at)
    insert_clear_event(engine, event_id="evt_old", payload=json.dumps(PAYLOAD), at=at)
    description, metadata = ORDER_TEXT
    insert_clear_order(
        engine, order_id="pay_old", description=description, metadata=json.dumps(metadata), at=at
    )
    insert_clear_order(engine, order_id="pay_empty", description="", metadata="{}", at=at)


@pytest.fixture
def indexer() -> BlindIndexer:
    return BlindIndexer({"k1": os.urandom(32)}, "k1")


def test_a_backfill_stopped_after_some_pages_resumes_and_leaves_nothing_in_clear(
    legacy_engine: Engine,  # noqa: F811
    clock: ManualClock,
    field_cipher: FieldCipher,
    indexer: BlindIndexer,
) -> None:
    _clear_rows(legacy_engine, clock, field_cipher)
    job = EncryptBackfill(legacy_engine, field_cipher, indexer)

    first = job.run(page_size=1, pages=2)
    left = job.remaining()
    rest = job.run(page_size=1)
    again = job.run(page_size=1)

    assert first["custody_subaccounts.virtual_account"] == 2 and sum(first.values()) == 2
    # Both orders hold both clear columns until the first of their moves empties the two.
    assert left == {
        **MOVED,
        "custody_subaccounts.virtual_account": 0,
        "payment_orders.metadata": 2,
    }
    assert rest == {**MOVED, "custody_subaccounts.virtual_account": 0}
    assert sum(again.values()) == 0 and sum(job.remaining().values()) == 0


def test_backfilled_values_read_back_through_the_services_and_match_by_number(
    legacy_engine: Engine,  # noqa: F811
    clock: ManualClock,
    field_cipher: FieldCipher,
    indexer: BlindIndexer,
) -> None:
    engine = legacy_engine
    _clear_rows(engine, clock, field_cipher)
    EncryptBackfill(engine, field_cipher, indexer).run()
    ledger = Ledger(engine, clock=clock)
    numbers = VirtualAccounts(cipher=field_cipher, indexer=indexer)
    sealed = SubAccounts(engine=engine, ledger=ledger, clock=clock, numbers=numbers)
    rewards = Rewards(engine=engine, ledger=ledger, clock=clock, cipher=field_cipher)
    notifications = Notifications(engine, cipher=field_cipher, clock=clock)

    try:
        with engine.begin() as conn:
            found = numbers.find(conn, bank=DEFAULT_BANK.name, number=VIRTUAL_ACCOUNT)
            account_enc = conn.execute(select(lines.c.account_enc)).scalar_one()
            details = dict(conn.execute(select(orders.c.id, orders.c.details_enc)).tuples().all())
            prior = store_idempotency.claim_idempotency_key(  # a retry of the old request
                conn, merchant_id="m1", key="k-old", request_hash="h", object_id="pay_x",
                now=clock.now(),
            )  # fmt: skip
        subaccount = sealed.get("m1", DEFAULT_BANK, owner="buyer1")
        notes = [r.note for r in rewards.rows("m1", "batch1")]
        event = notifications.get_event("evt_old", merchant_id="mer_a").event
    finally:
        ledger.close()

    assert found is not None and found["owner"] == "buyer1"
    assert subaccount.virtual_account == VIRTUAL_ACCOUNT
    assert field_cipher.decrypt(account_enc, context=account_context("imp1", 1)) == LINE_ACCOUNT
    assert notes == ["thanks", "", "hi"]
    assert prior is not None and store_idempotency.stored_response(field_cipher, prior) == ANSWER
    assert event.payload == PAYLOAD
    assert open_order_details(field_cipher, "pay_old", details["pay_old"]) == ORDER_TEXT
    assert details["pay_empty"] is None  # no text, no token
    for table, column in (
        ("custody_subaccounts", "virtual_account"),
        ("recon_lines", "account"),
        ("rewards_rows", "note"),
        ("idempotency_keys", "response"),
        ("notification_events", "payload"),
        ("payment_orders", "description"),
        ("payment_orders", "metadata"),
    ):
        assert clear_values(engine, table, column) == [], f"{table}.{column}"


def test_the_cli_backfill_exits_1_while_rows_are_left_and_0_once_all_are_sealed(
    legacy_url: str,  # noqa: F811
    legacy_engine: Engine,  # noqa: F811
    clock: ManualClock,
    field_cipher: FieldCipher,
    tmp_path: Path,
) -> None:
    _clear_rows(legacy_engine, clock, field_cipher)
    key = base64.b64encode(os.urandom(32)).decode()
    env = {
        "PAYCORE_DATABASE_URL": legacy_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "cli-var"),
        "PAYCORE_FIELD_KEYS": f"t1:{key}",
        "PAYCORE_BLIND_INDEX_KEY": key,
    }
    runner = CliRunner()

    checked = runner.invoke(columns_app, ["--check"], env=env)
    stopped = runner.invoke(columns_app, ["--page-size", "1", "--pages", "1"], env=env)
    finished = runner.invoke(columns_app, [], env=env)

    assert checked.exit_code == 1 and "notification_events.payload" in checked.output
    assert stopped.exit_code == 1 and "run again to resume" in stopped.output
    assert finished.exit_code == 0, finished.output
    assert clear_values(legacy_engine, "custody_subaccounts", "virtual_account") == []


def test_the_backfill_moves_the_columns_migration_0032_drops() -> None:
    cipher = FieldCipher({"t": os.urandom(32)}, "t")
    job = EncryptBackfill(
        make_engine("sqlite://"), cipher, BlindIndexer({"k": os.urandom(32)}, "k")
    )
    named = {m.name for m in job.moves}

    assert tuple(migration_0032().CLEAR_COLUMNS) == CLEAR_COLUMNS
    assert named | PENDING_MOVES == {f"{table}.{column}" for table, column in CLEAR_COLUMNS}
    assert not named & PENDING_MOVES


def test_0032_refuses_while_clear_values_remain_and_drops_the_columns_once_sealed(
    legacy_url: str,  # noqa: F811
    legacy_engine: Engine,  # noqa: F811
    clock: ManualClock,
    field_cipher: FieldCipher,
    indexer: BlindIndexer,
    tmp_path: Path,
) -> None:
    _clear_rows(legacy_engine, clock, field_cipher)
    job = EncryptBackfill(legacy_engine, field_cipher, indexer)

    with pytest.raises(Exception, match="paycore security encrypt-backfill") as refused:
        run_0032(legacy_engine)
    kept = set(_columns(legacy_engine, "rewards_rows"))
    job.run()
    run_0032(legacy_engine)
    key = base64.b64encode(os.urandom(32)).decode()
    env = {
        "PAYCORE_DATABASE_URL": legacy_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "cli-var"),
        "PAYCORE_FIELD_KEYS": f"t1:{key}",
        "PAYCORE_BLIND_INDEX_KEY": key,
    }
    after = CliRunner().invoke(columns_app, [], env=env)

    assert "rewards_rows.note: 3" in str(refused.value)
    assert "note" in kept  # refused in its own transaction: nothing dropped
    for table, column in (
        ("custody_subaccounts", "virtual_account"),
        ("recon_lines", "account"),
        ("rewards_rows", "note"),
        ("idempotency_keys", "response"),
        ("notification_events", "payload"),
    ):
        assert column not in _columns(legacy_engine, table), f"{table}.{column}"
    assert job.remaining() == {} and sum(job.run().values()) == 0
    assert after.exit_code == 0 and "nothing left" in after.output, after.output
    subaccounts = SubAccounts(
        engine=legacy_engine,
        ledger=Ledger(legacy_engine, clock=clock),
        clock=clock,
        numbers=VirtualAccounts(cipher=field_cipher, indexer=indexer),
    )
    assert subaccounts.get("m1", DEFAULT_BANK, owner="buyer1").virtual_account == VIRTUAL_ACCOUNT


def _columns(engine: Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return [c["name"] for c in inspect(conn).get_columns(table)]


def test_a_service_built_without_its_cipher_or_blind_keys_is_a_wiring_error(
    engine: Engine, ledger: Ledger, clock: ManualClock, field_cipher: FieldCipher
) -> None:
    with pytest.raises(InvariantViolation, match="cipher"):
        Rewards(engine=engine, ledger=ledger, clock=clock)
    with pytest.raises(TypeError, match="numbers"):
        SubAccounts(engine=engine, ledger=ledger, clock=clock)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="indexer"):
        VirtualAccounts(cipher=field_cipher)  # type: ignore[call-arg]


def test_the_migration_masks_personal_numbers_in_stored_warnings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0027_audit_log")
    warnings = [f"Nm {CARD} too long", "no numbers here"]
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO recon_imports (id, file_sha256, format, source, statement_id,"
                    " line_count, credits, debits, imported_at, warnings, warning_count)"
                    " VALUES ('imp1', :sha, 'camt053', 'bank_x', 's1', 0, 0, 0,"
                    " '2026-03-02 00:00:00.000000', :warnings, 2)"
                ),
                {"sha": "c" * 64, "warnings": json.dumps(warnings)},
            )
        upgrade(url, "0028_encrypt_c2")
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT warnings FROM recon_imports")).scalar_one()
    finally:
        engine.dispose()

    assert json.loads(stored) == ["Nm 622202*********0123 too long", "no numbers here"]
