# ruff: noqa: F811  (the custody fixtures are imported, then requested by name)
"""Through the wired runtime: pay-ins, payouts and custody's statement payers are indexed
with their rows, and found through `POST /v1/pii/lookup`."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from paycore.channels.model import BankAccount, Payer
from paycore.payments.service import PayinCommand, PayoutCommand
from paycore.recon.model import Counterparty
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.custody.conftest import SHANGHAI, START, Desk, alpha, clock, desk, runtime  # noqa: F401
from tests.payments.conftest import fund_merchant
from tests.payments.fakes import succeeded
from tests.security.statement_kit import land_statement_money

CARD = "6214837654321012340"
PHONE = "13812345678"
ACCOUNT = "6217000010001234567"
PAYER = Counterparty(account_number="6222021234567890128", name="x")


def _lookup(runtime: Runtime, body: dict[str, str], merchant_id: str | None) -> list[str]:
    _key, clear = runtime.api_keys.issue(
        merchant_id=merchant_id, scopes=None if merchant_id else ["admin"]
    )
    with TestClient(create_app(runtime=runtime)) as client:
        answer = client.post(
            "/v1/pii/lookup", json=body, headers={"Authorization": f"Bearer {clear}"}
        )
    assert answer.status_code == 200, answer.text
    return sorted(f"{h['object_type']} {h['object_id']}" for h in answer.json()["data"])


def _payin(desk: Desk, merchant_id: str, phone: str) -> str:
    desk.alpha.then(succeeded())
    created = desk.runtime.payments.create_payin(
        PayinCommand(merchant_id, "card", 100, "CNY", Payer(CARD, "x", phone=phone)),
        idempotency_key=f"k-{merchant_id}-{phone}",
    )
    return str(created.body["id"])


def test_payins_and_payouts_are_indexed_with_their_rows_and_merchants_see_their_own(
    desk: Desk,
) -> None:
    runtime = desk.runtime
    other, _secret = runtime.merchants.create(name="Other", fee_bps=0)
    mine = [
        _payin(desk, desk.merchant_id, PHONE),
        _payin(desk, desk.merchant_id, "+86 138 1234 5678"),
    ]
    theirs = _payin(desk, other.id, PHONE)
    fund_merchant(runtime.ledger, desk.merchant_id, 10_000)
    desk.alpha.then(succeeded())
    payout = runtime.payments.create_payout(
        PayoutCommand(desk.merchant_id, 1_000, "CNY", BankAccount(ACCOUNT, "x")),
        idempotency_key="po-1",
    ).body["id"]

    assert _lookup(runtime, {"phone": "138-1234-5678"}, desk.merchant_id) == sorted(
        f"payin {i}" for i in mine
    )
    assert _lookup(runtime, {"card_number": CARD}, None) == sorted(
        f"payin {i}" for i in [*mine, theirs]
    )
    assert _lookup(runtime, {"account_number": ACCOUNT}, desk.merchant_id) == [f"payout {payout}"]


def test_a_statement_payer_is_found_on_its_custody_receipt_and_statement_line(
    desk: Desk,
    tmp_path: Path,
) -> None:
    land_statement_money(desk, tmp_path, PAYER, ref="1")

    found = _lookup(desk.runtime, {"account_number": PAYER.account_number}, None)
    assert [f.split()[0] for f in found] == ["custody_receipt", "recon_line"]
    other, _secret = desk.runtime.merchants.create(name="Other", fee_bps=0)
    assert _lookup(desk.runtime, {"account_number": PAYER.account_number}, other.id) == []
