"""Rows written in clear before migration 0028 are sealed by the encrypt backfill, in
pages, resumably; the migration masks the personal numbers of stored recon warnings."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.custody.model import DEFAULT_BANK, Role
from paycore.custody.subaccounts import SubAccounts, VirtualAccounts
from paycore.ledger.service import Ledger
from paycore.platform.db import make_engine, upgrade
from paycore.recon import store_lines
from paycore.recon.model import Direction, LineKind, LineStatus, StatementLine
from paycore.recon.store import lines
from paycore.recon.store_lines import account_context
from paycore.rewards.files import csv_file
from paycore.rewards.service import Rewards
from paycore.security.blind import BlindIndexer
from paycore.security.cli_columns import columns_app
from paycore.security.columns_backfill import EncryptBackfill
from paycore.security.crypto import FieldCipher

VIRTUAL_ACCOUNT = "6228000011112222333"
LINE_ACCOUNT = "6228000044445555666"
CARD = "6222021234567890123"


def _clear_rows(engine: Engine, ledger: Ledger, clock: ManualClock) -> SubAccounts:
    """What paycore wrote before 0028: a sub-account, a statement line and reward notes,
    all in clear (the services given no cipher still write so)."""
    legacy = SubAccounts(engine=engine, ledger=ledger, clock=clock)
    for owner, number in (("buyer1", VIRTUAL_ACCOUNT), ("buyer2", "6228000011112222444")):
        legacy.open("m1", DEFAULT_BANK, owner=owner, role=Role.BUYER, virtual_account=number)
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
    row[store_lines.COLUMNS.index("account")] = LINE_ACCOUNT
    with engine.begin() as conn:
        store_lines.LineWriter(conn).write([row])
    rewards = Rewards(engine=engine, ledger=ledger, clock=clock)
    rewards.create_budget(
        "m1", "b1", name="Spring", currency="CNY", row_amount_max=900, recipient_total_max=900
    )
    body = b"recipient,amount,note\nu1,100,thanks\nu2,200,\nu3,300,hi\n"
    rewards.pay("m1", budget_id="b1", batch_id="batch1", source=csv_file(body))
    return legacy


@pytest.fixture
def indexer() -> BlindIndexer:
    return BlindIndexer({"k1": os.urandom(32)}, "k1")


def test_a_backfill_stopped_after_some_pages_resumes_and_leaves_nothing_in_clear(
    engine: Engine,
    ledger: Ledger,
    clock: ManualClock,
    field_cipher: FieldCipher,
    indexer: BlindIndexer,
) -> None:
    _clear_rows(engine, ledger, clock)
    job = EncryptBackfill(engine, field_cipher, indexer)

    first = job.run(page_size=1, pages=2)
    left = job.remaining()
    rest = job.run(page_size=1)
    again = job.run(page_size=1)

    assert first["custody_subaccounts.virtual_account"] == 2 and sum(first.values()) == 2
    assert left == {
        "custody_subaccounts.virtual_account": 0,
        "recon_lines.account": 1,
        "rewards_rows.note": 3,
    }
    assert rest == {
        "custody_subaccounts.virtual_account": 0,
        "recon_lines.account": 1,
        "rewards_rows.note": 3,
    }
    assert sum(again.values()) == 0 and sum(job.remaining().values()) == 0


def test_backfilled_values_read_back_through_the_services_and_match_by_number(
    engine: Engine,
    ledger: Ledger,
    clock: ManualClock,
    field_cipher: FieldCipher,
    indexer: BlindIndexer,
) -> None:
    _clear_rows(engine, ledger, clock)
    EncryptBackfill(engine, field_cipher, indexer).run()
    numbers = VirtualAccounts(cipher=field_cipher, indexer=indexer)
    sealed = SubAccounts(engine=engine, ledger=ledger, clock=clock, numbers=numbers)
    rewards = Rewards(engine=engine, ledger=ledger, clock=clock, cipher=field_cipher)

    with engine.connect() as conn:
        found = numbers.find(conn, bank=DEFAULT_BANK.name, number=VIRTUAL_ACCOUNT)
        account_enc = conn.execute(select(lines.c.account_enc)).scalar_one()
        notes = conn.execute(text("SELECT note, note_enc FROM rewards_rows")).all()

    assert found is not None and found["owner"] == "buyer1" and found["virtual_account"] is None
    assert sealed.get("m1", DEFAULT_BANK, owner="buyer1").virtual_account == VIRTUAL_ACCOUNT
    assert field_cipher.decrypt(account_enc, context=account_context("imp1", 1)) == LINE_ACCOUNT
    assert [n for n, _ in notes] == [None, None, None]
    assert [r.note for r in rewards.rows("m1", "batch1")] == ["thanks", "", "hi"]


def test_the_cli_backfill_exits_1_while_rows_are_left_and_0_once_all_are_sealed(
    database_url: str, engine: Engine, ledger: Ledger, clock: ManualClock, tmp_path: Path
) -> None:
    _clear_rows(engine, ledger, clock)
    key = base64.b64encode(os.urandom(32)).decode()
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "cli-var"),
        "PAYCORE_FIELD_KEYS": f"t1:{key}",
        "PAYCORE_BLIND_INDEX_KEY": key,
    }
    runner = CliRunner()

    checked = runner.invoke(columns_app, ["--check"], env=env)
    stopped = runner.invoke(columns_app, ["--page-size", "1", "--pages", "1"], env=env)
    finished = runner.invoke(columns_app, [], env=env)

    assert checked.exit_code == 1 and "rewards_rows.note" in checked.output
    assert stopped.exit_code == 1 and "run again to resume" in stopped.output
    assert finished.exit_code == 0, finished.output
    with engine.connect() as conn:
        clear = conn.execute(text("SELECT virtual_account FROM custody_subaccounts")).all()
    assert clear == [(None,), (None,)]


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
