"""A break's adjustment moves money only between the accounts the break is about: its
suspense, its channel's clearing, the fee account, and the wallet of the merchant whose
order it names. Anything else (another merchant's wallet, money in transit, a merchant's
own API account) is refused with `adjustment_account_not_allowed`, over HTTP and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.errors import Rejected
from paycore.ledger.model import AccountOrigin
from paycore.ledger.service import AccountRequest
from paycore.payments import bookkeeping as books
from paycore.recon.api import router
from paycore.recon.breaks import Adjustment, suspense_account
from paycore.recon.cli import recon_app
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.payments.conftest import fund_merchant
from tests.payments.fakes import ScriptedChannel
from tests.recon.conftest import DAY, Row, pay, write_statement

CLEARING = books.clearing_account("alpha", "CNY")


@pytest.fixture
def other_merchant(runtime: Runtime) -> str:
    """Another merchant with money in its wallet: what a stray adjustment could take."""
    merchant, _secret = runtime.merchants.create(name="Bystander", fee_bps=0)
    fund_merchant(runtime.ledger, merchant.id, 50_000)
    return merchant.id


@pytest.fixture
def http(runtime: Runtime, recon: Recon, admin_key: str) -> Iterator[TestClient]:
    app = create_app(runtime=runtime)
    if not any(getattr(r, "path", "").startswith("/v1/recon/runs") for r in app.routes):
        app.include_router(router)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


def amount_mismatch(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant: str, tmp_path: Path
) -> int:
    """A paid pay-in of 200.00 that the statement shows as 199.00: a break naming the order."""
    pay(runtime, alpha, merchant, amount=20_000, txn="T2")
    path = write_statement(tmp_path / "s.csv", [Row("L", 19_900, channel_txn_id="T2", fee=200)])
    recon.import_file(path, format="test_csv", source="alpha")
    recon.run(source="alpha", business_date=DAY)
    [found] = recon.list_breaks(type_="amount_mismatch")
    return int(found["id"])


def surplus(recon: Recon, tmp_path: Path) -> int:
    """Money on the statement that no order explains: a break naming no order."""
    path = write_statement(tmp_path / "s.csv", [Row("S", 500)])
    recon.import_file(path, format="test_csv", source="alpha")
    recon.run(source="alpha", business_date=DAY)
    [found] = recon.list_breaks(type_="missing_on_our_side")
    return int(found["id"])


def balances(runtime: Runtime) -> dict[str, tuple[int, int]]:
    with runtime.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, debits_posted, credits_posted FROM ledger_accounts ORDER BY id"
        ).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def outside_accounts(runtime: Runtime, other_merchant: str) -> dict[str, str]:
    api_account = "acct_ops_private"
    runtime.ledger.create_accounts(
        [AccountRequest(id=api_account, currency="CNY", origin=AccountOrigin.API)]
    )
    return {
        "another_merchants_wallet": books.wallet_account(other_merchant, "CNY"),
        "money_in_transit": books.transit_account("CNY"),
        "another_channels_clearing": books.clearing_account("beta", "CNY"),
        "an_api_account": api_account,
        "an_unknown_account": "acct_nope",
    }


OUTSIDE = [
    "another_merchants_wallet",
    "money_in_transit",
    "another_channels_clearing",
    "an_api_account",
    "an_unknown_account",
]


@pytest.mark.parametrize("outside", OUTSIDE)
@pytest.mark.parametrize("side", ["debit", "credit"])
def test_an_adjustment_naming_an_account_outside_the_break_is_refused_and_moves_nothing(
    recon: Recon,
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    other_merchant: str,
    tmp_path: Path,
    outside: str,
    side: str,
) -> None:
    break_id = amount_mismatch(recon, runtime, alpha, merchant_id, tmp_path)
    stray = outside_accounts(runtime, other_merchant)[outside]
    pair = (stray, CLEARING) if side == "debit" else (suspense_account("CNY"), stray)
    before = balances(runtime)

    with pytest.raises(Rejected) as refused:
        recon.resolve(break_id, actor="ops", note="x", adjustment=Adjustment(*pair, 100))

    assert refused.value.code == "adjustment_account_not_allowed"
    assert stray in refused.value.detail
    assert balances(runtime) == before
    found = recon.get_break(break_id)
    assert (found["status"], found["events"]) == ("open", [])


def test_a_break_about_an_order_may_be_adjusted_against_that_orders_merchant_wallet(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    break_id = amount_mismatch(recon, runtime, alpha, merchant_id, tmp_path)
    wallet = books.wallet_account(merchant_id, "CNY")
    before = balances(runtime)[wallet]

    resolved = recon.resolve(
        break_id,
        actor="ops",
        note="the payer paid 1.00 less: taken back from the merchant",
        adjustment=Adjustment(wallet, CLEARING, 100),
    )

    assert resolved["status"] == "resolved"
    assert balances(runtime)[wallet] == (before[0] + 100, before[1])


@pytest.mark.parametrize(
    "pair",
    [
        (suspense_account("CNY"), CLEARING),
        (books.fee_account("CNY"), CLEARING),
        (CLEARING, suspense_account("CNY")),
    ],
)
def test_a_break_with_no_order_may_be_adjusted_between_its_suspense_clearing_and_fees(
    recon: Recon, runtime: Runtime, tmp_path: Path, pair: tuple[str, str]
) -> None:
    break_id = surplus(recon, tmp_path)
    runtime.ledger.create_accounts(
        [AccountRequest(id=books.fee_account("CNY"), currency="CNY", code=books.CODE_FEE)]
    )

    resolved = recon.resolve(break_id, actor="ops", note="settled", adjustment=Adjustment(*pair, 1))

    assert resolved["status"] == "resolved" and resolved["adjustment_transfer_id"]


def test_a_break_with_no_order_cannot_reach_any_merchant_wallet(
    recon: Recon, runtime: Runtime, merchant_id: str, tmp_path: Path
) -> None:
    fund_merchant(runtime.ledger, merchant_id, 1_000)
    break_id = surplus(recon, tmp_path)
    wallet = books.wallet_account(merchant_id, "CNY")

    with pytest.raises(Rejected) as refused:
        recon.resolve(
            break_id,
            actor="ops",
            note="x",
            adjustment=Adjustment(suspense_account("CNY"), wallet, 500),
        )

    assert refused.value.code == "adjustment_account_not_allowed"


def test_over_http_an_adjustment_out_of_another_merchants_wallet_is_422(
    http: TestClient,
    recon: Recon,
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    other_merchant: str,
    tmp_path: Path,
) -> None:
    break_id = amount_mismatch(recon, runtime, alpha, merchant_id, tmp_path)
    before = balances(runtime)

    def resolve(debit: str, credit: str) -> Any:
        adjustment = {"debit_account_id": debit, "credit_account_id": credit, "amount": 100}
        body = {"note": "move it", "adjustment": adjustment}
        return http.post(f"/v1/recon/breaks/{break_id}/resolve", json=body)

    refused = resolve(books.wallet_account(other_merchant, "CNY"), CLEARING)
    transit = resolve(books.transit_account("CNY"), CLEARING)

    for answer in (refused, transit):
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "adjustment_account_not_allowed"
    assert balances(runtime) == before
    allowed = resolve(books.wallet_account(merchant_id, "CNY"), CLEARING)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["status"] == "resolved"


def test_the_command_line_refuses_an_adjustment_outside_the_break_with_exit_2(
    recon: Recon,
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    other_merchant: str,
    database_url: str,
    tmp_path: Path,
) -> None:
    break_id = str(amount_mismatch(recon, runtime, alpha, merchant_id, tmp_path))
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}
    before = balances(runtime)

    def paycore(debit: str) -> Any:
        adjust = ["--adjust-debit", debit, "--adjust-credit", CLEARING, "--amount", "100"]
        args = ["resolve", break_id, "--note", "x", *adjust]
        return CliRunner().invoke(recon_app, args, env=env)

    refused = paycore(books.wallet_account(other_merchant, "CNY"))

    assert refused.exit_code == 2, refused.output
    assert "adjustment_account_not_allowed" in refused.stderr
    assert balances(runtime) == before
    allowed = paycore(books.wallet_account(merchant_id, "CNY"))
    assert allowed.exit_code == 0, allowed.output
    assert '"status": "resolved"' in allowed.stdout
