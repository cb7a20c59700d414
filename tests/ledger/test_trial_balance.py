"""The trial balance: balances summed per currency and chart-of-accounts code, whose debit
and credit sides are equal in every currency; printed, exported and served."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from paycore.chart import trial_balance_view
from paycore.cli import app
from paycore.ledger.model import TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.runtime import Runtime
from tests.payments.http_conftest import new_tenant

_ids = itertools.count()


def book(ledger: Ledger) -> None:
    """A pay-in of 100.00 CNY (99.00 to the merchant, 1.00 fee), a payout hold of 30.00,
    and a USD pay-in of 5.00."""
    ledger.create_accounts(
        [
            AccountRequest(id="clr_cny", currency="CNY", code=1101),
            AccountRequest(id="mw_cny", currency="CNY", code=2001),
            AccountRequest(id="mw2_cny", currency="CNY", code=2001),
            AccountRequest(id="fee_cny", currency="CNY", code=4001),
            AccountRequest(id="transit_cny", currency="CNY", code=2101),
            AccountRequest(id="clr_usd", currency="USD", code=1101),
            AccountRequest(id="mw_usd", currency="USD", code=2001),
        ]
    )
    results = ledger.create_transfers(
        [
            TransferRequest("t1", "clr_cny", "mw_cny", 9_900, "CNY"),
            TransferRequest("t2", "clr_cny", "fee_cny", 100, "CNY"),
            TransferRequest("t3", "mw_cny", "transit_cny", 3_000, "CNY", flags=2),  # pending
            TransferRequest("t4", "clr_usd", "mw_usd", 500, "USD"),
        ]
    )
    assert {r.result for r in results} == {"created"}


def test_the_trial_balance_sums_each_code_per_currency_with_equal_sides(ledger: Ledger) -> None:
    book(ledger)

    view = trial_balance_view(ledger.trial_balance())

    def row(currency: str, name: str) -> dict[str, Any]:
        return next(r for r in view if r["currency"] == currency and r["name"] == name)

    assert row("CNY", "channel clearing")["debit_balance"] == 10_000
    wallets = row("CNY", "merchant wallet")
    assert (wallets["accounts"], wallets["credit_balance"], wallets["debits_pending"]) == (
        2,
        9_900,
        3_000,
    )
    assert row("CNY", "fee revenue")["credit_balance"] == 100
    assert row("CNY", "payouts in transit")["credits_pending"] == 3_000
    for currency, amount in (("CNY", 10_000), ("USD", 500)):
        total = row(currency, "total")
        assert total["debit_balance"] == total["credit_balance"] == amount
        assert total["debits_pending"] == total["credits_pending"]


# The fixture's ledger is shared on purpose: each example adds accounts of its own, and the
# property holds for the whole ledger, whatever earlier examples left in it.
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moves=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 10**6)), max_size=12
    )
)
def test_whatever_moves_between_codes_each_currencys_two_sides_stay_equal(
    ledger: Ledger, moves: list[tuple[int, int, int]]
) -> None:
    run = next(_ids)
    codes = (1101, 2001, 2002, 4001)
    names = [f"acct_tb{run}_{code}" for code in codes]
    ledger.create_accounts(
        [AccountRequest(id=n, currency="EUR", code=c) for n, c in zip(names, codes, strict=True)]
    )
    ledger.create_transfers(
        [
            TransferRequest(f"tr_tb{run}_{i}", names[a], names[b], amount, "EUR")
            for i, (a, b, amount) in enumerate(moves)
            if a != b
        ]
    )

    [total] = [r for r in trial_balance_view(ledger.trial_balance()) if r["name"] == "total"]

    assert total["debit_balance"] == total["credit_balance"]
    assert total["debits_posted"] == total["credits_posted"]


def test_the_command_prints_the_trial_balance_and_exports_it_as_csv(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    book(runtime.ledger)
    target = tmp_path / "tb.csv"

    result = CliRunner().invoke(
        app,
        ["ledger", "trial-balance", "--csv", str(target)],
        env={"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)},
    )

    assert result.exit_code == 0, result.output
    assert "channel clearing" in result.stdout and "100.00" in result.stdout
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    totals = {r["currency"]: r for r in rows if r["name"] == "total"}
    assert totals["CNY"]["debit_balance"] == totals["CNY"]["credit_balance"] == "10000"
    assert totals["USD"]["debit_balance"] == "500"


def test_the_trial_balance_is_served_to_platform_keys_only(
    client: TestClient, runtime: Runtime
) -> None:
    book(runtime.ledger)
    shop = new_tenant(runtime, "Shop")

    answer = client.get("/v1/ledger/trial-balance")
    exported = client.get("/v1/ledger/trial-balance", params={"format": "csv"})
    refused = client.get("/v1/ledger/trial-balance", headers=shop.auth)

    assert answer.status_code == 200
    assert {r["currency"] for r in answer.json()["data"]} == {"CNY", "USD"}
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0].startswith("currency,code,name")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
