# ruff: noqa: F811  (the custody fixtures are imported, then requested by name)
"""Through the wired runtime: pay-ins, payouts and custody's statement payers are indexed
with their rows, and found through `POST /v1/pii/lookup`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from paycore.channels.model import BankAccount, Payer
from paycore.custody.model import Role
from paycore.payments.service import PayinCommand, PayoutCommand
from paycore.recon.camt_writer import StatementHeader, write_camt053
from paycore.recon.model import Counterparty, Direction, LineKind, StatementLine
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.custody.conftest import SHANGHAI, START, Desk, alpha, clock, desk, runtime  # noqa: F401
from tests.payments.conftest import fund_merchant
from tests.payments.fakes import succeeded

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
    day = date(2026, 3, 10)
    buyer = desk.runtime.custody.open_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner="buyer-7", role=Role.BUYER
    )
    line = StatementLine(
        line_no=1,
        source_ref="BANKREF1",
        kind=LineKind.PAYIN,
        direction=Direction.CREDIT,
        amount=50_000,
        currency="CNY",
        booked_at=datetime(2026, 3, 10, 15, 1, tzinfo=SHANGHAI),
        account=buyer.virtual_account,
        counterparty=PAYER,
    )
    header = StatementHeader(
        statement_id="camt",
        account_iban="CN0012345678901234567890",
        currency="CNY",
        created_at=START + timedelta(hours=3),
        period_start=day,
        period_end=day,
    )
    path = tmp_path / "camt.xml"
    write_camt053(path, [line], header)
    path.write_bytes(path.read_bytes())  # the bank's statement: the test's input, not output
    desk.runtime.recon.import_file(path, format="camt053", source="alpha")
    desk.runtime.recon.run(source="alpha", business_date=day)

    found = _lookup(desk.runtime, {"account_number": PAYER.account_number}, None)
    assert [f.split()[0] for f in found] == ["custody_receipt", "recon_line"]
    other, _secret = desk.runtime.merchants.create(name="Other", fee_bps=0)
    assert _lookup(desk.runtime, {"account_number": PAYER.account_number}, other.id) == []
