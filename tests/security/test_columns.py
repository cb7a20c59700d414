"""The last C2 columns in clear (issue 15): custody virtual accounts, recon line accounts
and reward notes are sealed as they are written and opened for whoever may see them; recon
warnings are stored with personal numbers masked."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from paycore.clock import ManualClock
from paycore.custody import store as custody_store
from paycore.custody.model import DEFAULT_BANK, Role
from paycore.custody.subaccounts import SubAccounts, VirtualAccounts, virtual_account_context
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.recon import store as recon_store
from paycore.recon.model import (
    Counterparty,
    Direction,
    LineKind,
    LineStatus,
    Statement,
    StatementInfo,
    StatementLine,
)
from paycore.recon.service import Recon
from paycore.recon.store_lines import account_context
from paycore.rewards import store as rewards_store
from paycore.rewards.files import csv_file
from paycore.rewards.notes import note_context
from paycore.rewards.service import Rewards
from paycore.runtime import Runtime
from paycore.security.blind import BlindIndexer
from paycore.security.crypto import FieldCipher
from paycore.security.keys import TamperedCiphertext

VIRTUAL_ACCOUNT = "6228000011112222333"
LINE_ACCOUNT = "6228000044445555666"
CARD = "6222021234567890123"


BLIND_KEY = os.urandom(32)


@pytest.fixture
def indexer() -> BlindIndexer:
    return BlindIndexer({"k1": BLIND_KEY}, "k1")


@pytest.fixture
def subaccounts(
    engine: Engine,
    ledger: Ledger,
    clock: ManualClock,
    field_cipher: FieldCipher,
    indexer: BlindIndexer,
) -> SubAccounts:
    numbers = VirtualAccounts(cipher=field_cipher, indexer=indexer)
    return SubAccounts(engine=engine, ledger=ledger, clock=clock, numbers=numbers)


def _subaccount_row(engine: Engine, owner: str) -> dict[str, Any]:
    with engine.connect() as conn:
        found = custody_store.get_subaccount(
            conn, bank=DEFAULT_BANK.name, merchant_id="m1", owner=owner
        )
    assert found is not None
    return dict(found)


def test_a_virtual_account_is_kept_sealed_and_hashed_and_shown_in_clear_to_its_merchant(
    subaccounts: SubAccounts, engine: Engine, field_cipher: FieldCipher, indexer: BlindIndexer
) -> None:
    opened = subaccounts.open(
        "m1", DEFAULT_BANK, owner="buyer1", role=Role.BUYER, virtual_account=VIRTUAL_ACCOUNT
    )

    row = _subaccount_row(engine, "buyer1")
    assert opened.virtual_account == VIRTUAL_ACCOUNT
    assert "virtual_account" not in row  # no clear column in the code since 0032
    assert VIRTUAL_ACCOUNT not in row["virtual_account_enc"]
    context = virtual_account_context(DEFAULT_BANK.name, "m1", "buyer1")
    assert field_cipher.decrypt(row["virtual_account_enc"], context=context) == VIRTUAL_ACCOUNT
    assert row["virtual_account_hmac"] == indexer.token("account_number", VIRTUAL_ACCOUNT)
    assert subaccounts.get("m1", DEFAULT_BANK, owner="buyer1").virtual_account == VIRTUAL_ACCOUNT


def test_matching_finds_a_sub_account_by_its_number_without_a_clear_column(
    subaccounts: SubAccounts, engine: Engine
) -> None:
    subaccounts.open("m1", DEFAULT_BANK, owner="buyer1", role=Role.BUYER)
    number = subaccounts.get("m1", DEFAULT_BANK, owner="buyer1").virtual_account

    with engine.connect() as conn:
        found = subaccounts.numbers.find(conn, bank=DEFAULT_BANK.name, number=number)
        missing = subaccounts.numbers.find(conn, bank=DEFAULT_BANK.name, number=LINE_ACCOUNT)
        not_a_number = subaccounts.numbers.find(conn, bank=DEFAULT_BANK.name, number="?")

    assert found is not None and found["owner"] == "buyer1"
    assert missing is None and not_a_number is None


def test_a_number_taken_under_an_older_blind_key_is_still_refused_to_another_owner(
    engine: Engine,
    ledger: Ledger,
    clock: ManualClock,
    field_cipher: FieldCipher,
    subaccounts: SubAccounts,
) -> None:
    subaccounts.open(
        "m1", DEFAULT_BANK, owner="buyer1", role=Role.BUYER, virtual_account=VIRTUAL_ACCOUNT
    )
    rotated = BlindIndexer({"k1": BLIND_KEY, "k2": os.urandom(32)}, "k2")
    after_rotation = SubAccounts(
        engine=engine,
        ledger=ledger,
        clock=clock,
        numbers=VirtualAccounts(cipher=field_cipher, indexer=rotated),
    )

    with pytest.raises(Rejected) as refused:
        after_rotation.open(
            "m1", DEFAULT_BANK, owner="buyer2", role=Role.BUYER, virtual_account=VIRTUAL_ACCOUNT
        )

    assert refused.value.code == "virtual_account_exists"
    assert VIRTUAL_ACCOUNT not in refused.value.detail


def _statement(*lines: StatementLine, warning: str | None = None) -> Statement:
    info = StatementInfo(format="sandbox_csv", source="bank_x", statement_id="s1")
    statement = Statement(info, iter(lines))
    if warning is not None:
        statement.warnings.add(warning)
    return statement


def _line(line_no: int, *, account: str | None) -> StatementLine:
    return StatementLine(
        line_no=line_no,
        source_ref=f"R{line_no}",
        kind=LineKind.PAYIN,
        direction=Direction.CREDIT,
        amount=100,
        currency="CNY",
        booked_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        status=LineStatus.SUCCEEDED,
        account=account,
        counterparty=Counterparty(account_number=CARD, name="x"),
    )


@pytest.fixture
def recon(runtime: Runtime, engine: Engine, clock: ManualClock, field_cipher: FieldCipher) -> Recon:
    return Recon(
        engine=engine,
        ledger=runtime.ledger,
        clock=clock,
        payments=runtime.payments,
        cipher=field_cipher,
    )


def test_a_statement_lines_account_is_sealed_to_its_line_and_warnings_lose_their_numbers(
    recon: Recon, engine: Engine, field_cipher: FieldCipher
) -> None:
    warning = f"line 2: Nm {CARD} is longer than 140 characters"
    imported, _new = recon.import_statement(
        _statement(_line(1, account=LINE_ACCOUNT), _line(2, account=None), warning=warning),
        file_sha256="a" * 64,
        source="bank_x",
        carries_fee=False,
    )

    lines = recon_store.lines
    with engine.connect() as conn:
        rows = conn.execute(
            select(lines.c.line_no, lines.c.account_enc).order_by(lines.c.line_no)
        ).all()
    (_, sealed), (_, sealed_2) = rows
    context = account_context(imported["id"], 1)
    assert sealed_2 is None
    assert field_cipher.decrypt(sealed, context=context) == LINE_ACCOUNT
    stored = recon.get_import(imported["id"])["warnings"]
    assert CARD not in stored
    assert json.loads(stored) == ["line 2: Nm 622202*********0123 is longer than 140 characters"]


def test_a_line_account_opened_for_hand_over_is_the_one_the_statement_named(
    recon: Recon, engine: Engine
) -> None:
    imported, _new = recon.import_statement(
        _statement(_line(1, account=LINE_ACCOUNT)),
        file_sha256="b" * 64,
        source="bank_x",
        carries_fee=False,
    )
    with engine.connect() as conn:
        line = conn.execute(select(recon_store.lines)).one()._mapping
    row = {**line, "id": 1, "line_amount": 100}

    money = recon.handover._money(row)

    assert money.account == LINE_ACCOUNT and imported["line_count"] == 1


@pytest.fixture
def rewards(
    engine: Engine, ledger: Ledger, clock: ManualClock, field_cipher: FieldCipher
) -> Rewards:
    service = Rewards(engine=engine, ledger=ledger, clock=clock, cipher=field_cipher)
    service.create_budget(
        "m1", "b1", name="Spring", currency="CNY", row_amount_max=1000, recipient_total_max=1000
    )
    return service


def test_a_reward_note_is_sealed_to_its_row_and_read_back_in_clear(
    rewards: Rewards, engine: Engine, field_cipher: FieldCipher
) -> None:
    body = f"recipient,amount,note\nu1,100,call {CARD}\nu2,200,\n".encode()

    rewards.pay("m1", budget_id="b1", batch_id="batch1", source=csv_file(body))

    rows = rewards_store.rows
    with engine.connect() as conn:
        stored = conn.execute(
            select(rows.c.position, rows.c.note_enc).order_by(rows.c.position)
        ).all()
    (_, sealed_1), (_, sealed_2) = stored
    context = note_context("m1", "batch1", 1)
    assert sealed_2 is None
    assert field_cipher.decrypt(sealed_1, context=context) == f"call {CARD}"
    assert [r.note for r in rewards.rows("m1", "batch1")] == [f"call {CARD}", ""]
    assert "call" not in "".join(rewards.result_csv("m1", "batch1"))  # the file has no note


def test_a_sealed_note_does_not_open_in_another_row(
    rewards: Rewards, engine: Engine, field_cipher: FieldCipher
) -> None:
    rewards.pay(
        "m1",
        budget_id="b1",
        batch_id="batch1",
        source=csv_file(b"recipient,amount,note\nu1,1,hi\n"),
    )
    with engine.connect() as conn:
        sealed = conn.execute(text("SELECT note_enc FROM rewards_rows")).scalar_one()

    with pytest.raises(TamperedCiphertext):
        field_cipher.decrypt(sealed, context=note_context("m1", "batch2", 1))
