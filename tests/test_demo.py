"""`paycore demo` in-process: a small day of traffic against a real sandbox bank, the
business flows' scenes and the marketplace's bill of the month."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader
from rich.console import Console
from typer.testing import CliRunner

from paycore.bills.page import BillView
from paycore.bills.proof import CheckReport as BillsProof
from paycore.bills.proof import CheckRow
from paycore.bills.sealing import SealProblem
from paycore.cli import app
from paycore.demo.bill import TITLE as BILL_TITLE
from paycore.demo.bill import proof_problems
from paycore.demo.customers import (
    MERCHANTS,
    PRODUCTS,
    card_number,
    is_luhn_valid,
    mistype,
    plan_payins,
    split_amount,
)
from paycore.demo.flows import MARKETPLACE_ID, SCENES
from paycore.demo.report import DemoReport
from paycore.demo.run import PAYINS_MAX, DemoOptions, run_demo
from paycore.demo.stage import DEMO_FAULTS, free_port
from paycore.errors import Rejected
from paycore.payments.model import Order, OrderKind, OrderStatus
from paycore.runtime import Runtime
from paycore.sandbox_bank.config import BankConfig
from paycore.sandbox_bank.launcher import ensure_keys
from paycore.sandbox_bank.server import run_bank
from paycore.web.app import create_app
from tests.bills.test_page_http import figures

QUICK_PAYINS = 40


@pytest.fixture
def demo_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo reads Settings.from_env(): this test's database, keys and bank files."""
    monkeypatch.setenv("PAYCORE_DATABASE_URL", database_url)
    monkeypatch.setenv("PAYCORE_DATA_DIR", str(tmp_path))
    for name in ("PAYCORE_FIELD_KEYS", "PAYCORE_FIELD_KEY_ID", "PAYCORE_CHANNELS_FILE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _run(options: DemoOptions) -> tuple[DemoReport, str]:
    out = io.StringIO()
    report = run_demo(options, console=Console(file=out, width=160))
    return report, out.getvalue()


def _expected_balance(orders: Sequence[Order], merchant_id: str) -> int:
    def total(kind: OrderKind, *, net_of_fee: bool = False) -> int:
        return sum(
            o.amount - (o.fee_amount if net_of_fee else 0)
            for o in orders
            if o.merchant_id == merchant_id and o.kind is kind and o.status is OrderStatus.SUCCEEDED
        )

    return (
        total(OrderKind.PAYIN, net_of_fee=True) - total(OrderKind.PAYOUT) - total(OrderKind.REFUND)
    )


def test_the_demo_resolves_every_order_keeps_the_books_and_can_run_again(
    demo_env: Path, runtime: Runtime
) -> None:
    options = DemoOptions(
        payins=QUICK_PAYINS,
        seed=7,
        threads=4,
        bank_url=f"http://127.0.0.1:{free_port()}",
        use_running_server=False,
    )
    first, output = _run(options)
    assert first.started_bank
    # Again, against a bank that was already running: the demo leaves its failure mix as it was.
    with run_bank(BankConfig(data_dir=demo_env / "sandbox-bank")) as bank_url:
        faults_before = httpx.get(f"{bank_url}/admin/faults").json()
        second, second_output = _run(replace(options, seed=8, bank_url=bank_url))
        assert httpx.get(f"{bank_url}/admin/faults").json() == faults_before
    assert not second.started_bank

    orders = [*first.orders, *second.orders]
    for report in (first, second):
        assert report.unresolved == []
        assert report.errors == []
        assert report.ledger.ok, report.ledger.problems
        assert sum(1 for o in report.orders if o.kind is OrderKind.PAYIN) == QUICK_PAYINS
        assert set(report.keys) == {*(m.id for m in MERCHANTS), MARKETPLACE_ID, "admin"}
        assert report.bill is not None and report.bill.proof.ok, report.errors
        proved = {row.merchant_id for row in report.bill.proof.rows}
        assert {*(m.id for m in MERCHANTS), MARKETPLACE_ID} <= proved
    assert {o.kind for o in orders} == set(OrderKind)
    for merchant in MERCHANTS:
        [wallet] = second.balances[merchant.id]
        assert wallet["held"] == 0
        assert wallet["balance"] == _expected_balance(orders, merchant.id)
    rated = {(r.kind, r.product) for r in second.rates if r.effective_rate is not None}
    assert {("payin", product) for product in PRODUCTS} <= rated
    assert not re.search(r"(?<![0-9A-Za-z])[0-9]{13,19}(?![0-9])", output)  # no card in clear
    assert "ledger check: ok" in output
    for scene in SCENES:  # every business flow showed its scene, none was refused
        assert scene[0] in output
    assert "refused" not in output
    assert "/docs" in output
    # Each run writes the month's bill again, over the last one.
    _assert_the_bill_is_written_and_served(second, second_output, runtime, data_dir=demo_env)
    assert second.bill is not None
    assert _summary(second.bill.view) == figures(
        runtime.bills.statement(MARKETPLACE_ID, second.bill.month)
    )  # the last bill shows the month as the journal has it after both runs


def _summary(view: BillView) -> dict[str, int]:
    [cny] = view.currencies
    return {
        "opening": cny.opening.minor,
        "in": cny.money_in.minor,
        "out": cny.money_out.minor,
        "closing": cny.closing.minor,
    }


def _assert_the_bill_is_written_and_served(
    report: DemoReport, output: str, runtime: Runtime, *, data_dir: Path
) -> None:
    """The bill scene's verdict, headline figures, files and curl line, and the key it
    printed opens the page it names."""
    bill = report.bill
    assert bill is not None
    assert BILL_TITLE in output
    assert f"bills proof of {bill.month}: ok" in output
    [cny] = bill.view.currencies
    headline = (cny.opening, cny.money_in, cny.money_out, cny.closing, cny.fees, cny.on_hold)
    summary = _summary(bill.view)
    assert summary["opening"] + summary["in"] - summary["out"] == summary["closing"]
    assert summary["in"] > 0 and cny.fees.minor > 0  # the marketplace was paid, and charged
    html = bill.html_path.read_text(encoding="utf-8")
    reader = PdfReader(bill.pdf_path)
    pdf = "\n".join(page.extract_text() for page in reader.pages)
    for money in headline:
        assert money.text in output
        assert money.text in html
    for money in headline[:4]:  # the PDF's glance: the four figures of the balance sum
        assert money.text in pdf
    assert bill.view.title in html and bill.view.title in pdf
    for path in (bill.html_path, bill.pdf_path):
        assert path.parent == (data_dir / "bills").resolve() and str(path) in output
    assert f'curl -H "Authorization: Bearer {bill.key}" "{bill.url}"' in output
    route = bill.url.removeprefix(report.server_url)
    with TestClient(create_app(runtime=runtime)) as client:
        answer = client.get(route, headers={"Authorization": f"Bearer {bill.key}"})
    assert answer.status_code == 200, answer.text
    assert bill.view.title in answer.text


def test_a_bills_proof_that_fails_names_each_account_and_seal_among_the_demos_errors() -> None:
    fine = CheckRow("mch_a", "acct_mw_a", 0, 0, 100, 100, 100)
    wrong = CheckRow("mch_a", "acct_mw_b", 0, 0, 100, 90, 100, ("closing != posted transfers",))
    proof = BillsProof(
        "2026-12",
        (fine, wrong),
        (SealProblem("mch_c", "2026-12", "hash differs"),),
    )

    assert proof_problems(proof) == [
        "bills proof 2026-12: mch_a acct_mw_b: closing != posted transfers",
        "bills proof 2026-12: mch_c seal: hash differs",
    ]
    assert proof_problems(replace(proof, rows=proof.rows[:1], seals=())) == []


@pytest.mark.parametrize(
    ("our_keys", "code"), [(False, "demo_bank_keys_missing"), (True, "demo_bank_unusable")]
)
def test_a_bank_started_from_another_data_dir_is_refused_before_any_traffic(
    demo_env: Path, our_keys: bool, code: str
) -> None:
    if our_keys:  # keys of our own, which that bank has never seen
        ensure_keys(demo_env / "sandbox-bank")
    with run_bank(BankConfig(data_dir=demo_env / "elsewhere")) as bank_url:
        options = DemoOptions(payins=1, bank_url=bank_url, use_running_server=False)
        with pytest.raises(Rejected) as refused:
            run_demo(options, console=Console(file=io.StringIO()))
    assert refused.value.code == code


def test_out_of_range_options_are_refused() -> None:
    for options in ({"payins": 0}, {"payins": PAYINS_MAX + 1}, {"threads": 0}):
        with pytest.raises(Rejected):
            DemoOptions(**options)  # type: ignore[arg-type]


def test_the_demo_command_is_registered_with_its_options() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--payins", "--seed", "--quick", "--bank-url"):
        assert option in result.output


def test_the_demo_day_mixes_failures_the_payer_and_the_bank_cause() -> None:
    assert DEMO_FAULTS["decline_rate"] > 0 and DEMO_FAULTS["channel_decline_rate"] > 0
    assert DEMO_FAULTS["timeout_rate"] > 0 and DEMO_FAULTS["unknown_rate"] > 0
    assert DEMO_FAULTS["duplicate_rate"] > 0 and DEMO_FAULTS["reorder_rate"] > 0


def test_the_same_seed_plans_the_same_day() -> None:
    assert plan_payins(50, random.Random(3)) == plan_payins(50, random.Random(3))


@given(st.integers(min_value=0, max_value=2**32), st.sampled_from([16, 19]))
def test_generated_card_numbers_pass_the_luhn_check_and_a_mistyped_one_never_does(
    seed: int, length: int
) -> None:
    rng = random.Random(seed)
    number = card_number(rng, length=length)
    assert len(number) == length and is_luhn_valid(number)
    assert not is_luhn_valid(mistype(number, rng))


def test_a_known_test_card_passes_the_luhn_check() -> None:
    assert is_luhn_valid("4111111111111111")
    assert not is_luhn_valid("4111111111111112")


@given(
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=0, max_value=2**32),
)
def test_a_payout_total_splits_into_positive_parts_that_sum_to_it(
    total: int, parts: int, seed: int
) -> None:
    amounts = split_amount(total, parts, random.Random(seed))
    assert sum(amounts) == total
    assert all(amount >= 1 for amount in amounts)
    assert len(amounts) == min(parts, total)


def test_planned_amounts_are_positive_whole_minor_units_of_known_products() -> None:
    plans = plan_payins(500, random.Random(1))
    assert all(isinstance(p.amount, int) and p.amount > 0 for p in plans)
    assert {p.product for p in plans} == set(PRODUCTS)
    assert {p.merchant_id for p in plans} == {m.id for m in MERCHANTS}
