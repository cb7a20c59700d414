"""The slices index the numbers they store, in the row's own transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.collection.model import Method
from paycore.collection.service import Collections
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
from paycore.runtime import Runtime
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher
from tests.collection.conftest import terms
from tests.security.conftest_blind import blind_index_fixture  # noqa: F401

CARD = "6222021234567890123"
ACCOUNT = "6227003811930123456"
ACCOUNT_SPACED = "6227 0038 1193 0123 456"


def test_a_collection_plans_card_is_found_however_it_is_typed(
    runtime: Runtime,
    engine: Engine,
    clock: ManualClock,
    field_cipher: FieldCipher,
    blind_index: BlindIndex,
) -> None:
    merchant, _secret = runtime.merchants.create(name="Agency", merchant_id="m_rent")
    collections = Collections(
        engine=engine,
        ledger=runtime.ledger,
        clock=clock,
        payments=runtime.payments,
        wallets=runtime.wallets,
        cipher=field_cipher,
        blind=blind_index,
    )
    plan = collections.create(merchant.id, terms(method=Method.CHANNEL), card_number=CARD)
    wallet_plan = collections.create(merchant.id, terms(tenant="tenant2"))

    hits = blind_index.find("card_number", "6222 0212 3456 7890 123", merchant_id=merchant.id)
    assert [(h.object_type, h.object_id) for h in hits] == [("collection_plan", plan.id)]
    assert blind_index.find("card_number", CARD, merchant_id="m_other") == []
    assert wallet_plan.id not in {h.object_id for h in hits}


def _statement(statement_id: str, *lines: StatementLine) -> Statement:
    info = StatementInfo(format="sandbox_csv", source="bank_x", statement_id=statement_id)
    return Statement(info, iter(lines))


def _line(line_no: int, source_ref: str, account_number: str) -> StatementLine:
    return StatementLine(
        line_no=line_no,
        source_ref=source_ref,
        kind=LineKind.PAYIN,
        direction=Direction.CREDIT,
        amount=100,
        currency="CNY",
        booked_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        status=LineStatus.SUCCEEDED,
        counterparty=Counterparty(account_number=account_number, name="x"),
    )


def test_a_statements_counterparties_are_indexed_and_a_repeated_line_leaves_no_entry(
    runtime: Runtime,
    engine: Engine,
    clock: ManualClock,
    field_cipher: FieldCipher,
    blind_index: BlindIndex,
) -> None:
    recon = Recon(
        engine=engine,
        ledger=runtime.ledger,
        clock=clock,
        payments=runtime.payments,
        cipher=field_cipher,
        blind=blind_index,
    )
    first, _ = recon.import_statement(
        _statement("s1", _line(1, "R1", ACCOUNT), _line(2, "R2", "6227000000000000001")),
        file_sha256="a" * 64,
        source="bank_x",
        carries_fee=False,
    )
    # The day's final statement repeats R1 (dropped as the same movement) and adds R3.
    second, _ = recon.import_statement(
        _statement("s2", _line(1, "R1", ACCOUNT), _line(2, "R3", ACCOUNT_SPACED)),
        file_sha256="b" * 64,
        source="bank_x",
        carries_fee=False,
    )
    assert second["repeated_lines"] == 1
    hits = blind_index.find("account_number", ACCOUNT_SPACED, object_type="recon_line")
    assert [h.object_id for h in hits] == sorted([f"{first['id']}/1", f"{second['id']}/2"])
