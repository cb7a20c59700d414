"""The bill page served from a real journal (two months of every flow, `billed_merchant`):
over HTTP as HTML and JSON with the merchant's key, on the command line as HTML, PDF and
JSON, and the three things that need the owner's attention found in other slices."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert
from typer.testing import CliRunner

from paycore.bills.chart import money_text
from paycore.bills.model import Statement
from paycore.bills.page_service import BillPages
from paycore.cli import app
from paycore.collection.store import periods, plans
from paycore.payments.service import RefundCommand
from paycore.recon.store import breaks
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.bills.conftest import Shop
from tests.payments.fakes import accepted

MONTH = "2026-11"


def figures(statement: Statement) -> dict[str, int]:
    """The page's summary figures, computed here from the statement's own accounts."""
    mine = [a for a in statement.accounts if not a.debit_normal]
    return {
        "opening": sum(a.opening.posted(False) + a.adjustment for a in mine),
        "in": sum(m.amount_in for a in mine for m in a.movements),
        "out": sum(m.amount_out for a in mine for m in a.movements),
        "closing": sum(a.closing.posted(False) for a in mine),
    }


def get(client: TestClient, shop: Shop, suffix: str, key: str | None = None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {key or shop.key}"}
    return client.get(
        f"/v1/bills/{shop.merchant_id}/{MONTH}.{suffix}", headers=headers, params=params
    )


def test_a_merchant_reads_its_bill_as_a_page_in_chinese_and_in_english(
    billed_merchant: Shop, runtime: Runtime
) -> None:
    expected = figures(runtime.bills.statement(billed_merchant.merchant_id, MONTH))
    with TestClient(create_app(runtime=runtime)) as client:
        zh = get(client, billed_merchant, "html")
        en = get(client, billed_merchant, "html", lang="en")

    assert zh.status_code == 200, zh.text
    assert zh.headers["content-type"].startswith("text/html")
    assert expected["opening"] + expected["in"] - expected["out"] == expected["closing"]
    for name, amount in expected.items():
        assert money_text(amount, "CNY", "zh") in zh.text, name
        assert money_text(amount, "CNY", "en") in en.text, name
    assert "Lakeside Rentals 2026年11月账单" in zh.text and "顾客付款" in zh.text
    assert "bill for November 2026" in en.text and "Paid by your customers" in en.text
    assert "张*" in zh.text  # the payer, masked
    assert "没有需要您处理的事" in zh.text
    assert zh.text.count("<svg") == en.text.count("<svg") == 2


def test_another_merchants_key_gets_404_and_a_platform_key_sees_every_bill(
    billed_merchant: Shop, runtime: Runtime, admin_key: str
) -> None:
    _other, other_key = runtime.api_keys.issue(
        merchant_id=runtime.merchants.create(name="Other Shop", fee_bps=0)[0].id, scopes=None
    )
    with TestClient(create_app(runtime=runtime)) as client:
        foreign = [get(client, billed_merchant, s, key=other_key) for s in ("html", "pdf", "json")]
        platform = get(client, billed_merchant, "json", key=admin_key)
        anonymous = client.get(f"/v1/bills/{billed_merchant.merchant_id}/{MONTH}.json")
        bad_month = client.get(
            f"/v1/bills/{billed_merchant.merchant_id}/2026-13.json",
            headers={"Authorization": f"Bearer {billed_merchant.key}"},
        )

    assert [r.status_code for r in foreign] == [404, 404, 404]
    assert {r.json()["code"] for r in foreign} == {"merchant_not_found"}
    assert (
        platform.status_code == 200
        and platform.json()["merchant_id"] == billed_merchant.merchant_id
    )
    assert anonymous.status_code == 401
    assert bad_month.status_code == 422 and bad_month.json()["code"] == "invalid_month"


def test_the_json_bill_is_the_page_as_data_with_money_as_integer_minor_units(
    billed_merchant: Shop, runtime: Runtime
) -> None:
    expected = figures(runtime.bills.statement(billed_merchant.merchant_id, MONTH))
    with TestClient(create_app(runtime=runtime)) as client:
        answer = get(client, billed_merchant, "json", lang="en")

    assert answer.status_code == 200, answer.text
    [bill] = answer.json()["currencies"]
    assert bill["closing"] == {
        "minor": expected["closing"],
        "currency": "CNY",
        "text": money_text(expected["closing"], "CNY", "en"),
    }
    assert bill["fees"]["minor"] == 900 and bill["fee_count"] == 3  # 1% of 900.00 in pay-ins
    assert sum(d["money_in"]["minor"] for d in bill["daily"]) == expected["in"]
    assert sum(d["money_out"]["minor"] for d in bill["daily"]) == expected["out"]
    assert [m["label"] for m in bill["months"]][-2:] == ["2026-10", "2026-11"]
    assert bill["holds"][0]["amount"]["minor"] == 15_000  # the payout still at the bank
    assert answer.json()["as_of"].startswith("2026-11-30T10:00")


def test_the_charts_are_the_same_from_the_journal_and_from_closed_days(
    billed_merchant: Shop, runtime: Runtime
) -> None:
    pages = BillPages(runtime.bills, runtime.merchants)
    raw = pages.view(billed_merchant.merchant_id, MONTH).currencies[0]
    closed = runtime.bills.close_days()
    rolled = pages.view(billed_merchant.merchant_id, MONTH).currencies[0]

    assert closed[0] <= date(2026, 10, 1) and closed[-1] == date(2026, 11, 29)
    assert rolled.daily == raw.daily and rolled.months == raw.months
    assert [p.money_in.minor for p in rolled.daily][:10] == [
        74_000,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        25_700,
    ]  # fmt: skip  (the 1st: 600.00 paid, 100.00 sent back by the bank, a 40.00 top-up)
    assert sum(p.money_in.minor for p in rolled.daily) == rolled.money_in.minor
    assert rolled.months[-2].money_in.minor > 0  # October, from its closed days


def test_a_wallet_owner_gets_a_bill_of_its_own_accounts_only(
    billed_merchant: Shop, runtime: Runtime
) -> None:
    with TestClient(create_app(runtime=runtime)) as client:
        answer = get(client, billed_merchant, "json", lang="en", owner="landlord").json()

    [bill] = answer["currencies"]
    assert answer["title"] == "Lakeside Rentals: bill for November 2026 (landlord's bill)"
    assert [line["key"] for line in bill["came_in"]] == ["top_up"]
    assert [(d["who"], d["closing"]["minor"]) for d in bill["owed"]] == [("landlord", 2_000)]
    assert bill["payers"] == [] and answer["attention"] == []


def test_a_failed_collection_a_break_and_a_refund_waiting_need_the_owners_attention(
    billed_merchant: Shop, runtime: Runtime
) -> None:
    m = billed_merchant.merchant_id
    billed_merchant.alpha.then(accepted())
    refund = runtime.payments.create_refund(
        RefundCommand(m, billed_merchant.payins[-1], 1_000), idempotency_key="rf-waiting"
    ).body["id"]
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    with runtime.engine.begin() as conn:
        conn.execute(insert(plans).values(**failed_plan(m, now)))
        conn.execute(insert(periods).values(
            plan_id="col_rent1", period_no=2, due_date=date(2026, 11, 5), status="failed",
            attempts_made=3, updated_at=now,
        ))  # fmt: skip
        conn.execute(insert(breaks).values(
            dedup_key="amount_mismatch:x", type="amount_mismatch", status="open", source="alpha",
            business_date=date(2026, 11, 10), order_id=billed_merchant.payins[-2],
            currency="CNY", run_id="run1", adjustment_attempts=0, created_at=now, updated_at=now,
        ))  # fmt: skip

    with TestClient(create_app(runtime=runtime)) as client:
        answer = get(client, billed_merchant, "json", lang="en").json()
        page = get(client, billed_merchant, "html").text

    kinds = {a["kind"]: a for a in answer["attention"]}
    assert sorted(kinds) == ["failed_collection", "recon_break", "refund_waiting"]
    assert kinds["failed_collection"]["examples"] == ["col_rent1#2 (t1) · 2026-11-05 · CN¥3,000.00"]
    assert kinds["recon_break"]["examples"][0].startswith(billed_merchant.payins[-2])
    assert kinds["refund_waiting"]["examples"][0].startswith(refund)
    assert answer["attention_text"] == ""
    assert "1 笔租金代收失败" in page and "1 笔退款还在等银行处理" in page


def failed_plan(merchant_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": "col_rent1", "merchant_id": merchant_id, "tenant": "t1", "landlord": "landlord",
        "amount": 300_000, "currency": "CNY", "fee_amount": 0, "due_day": "5",
        "start_month": date(2026, 10, 1), "method": "channel", "product": "rent",
        "max_attempts": 3, "retry_interval_s": 3600, "status": "active", "next_period_no": 3,
        "created_at": now, "updated_at": now,
    }  # fmt: skip


def test_paycore_bills_render_writes_the_page_its_pdf_and_its_json(
    billed_merchant: Shop, database_url: str, tmp_path: Path
) -> None:
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}
    m = billed_merchant.merchant_id

    def paycore(*args: str) -> Any:
        return CliRunner().invoke(
            app, ["bills", "render", "--merchant", m, "--month", MONTH, *args], env=env
        )

    html = paycore("--out", str(tmp_path / "bill.html"))
    pdf = paycore("--format", "pdf", "--out", str(tmp_path / "bill.pdf"))
    data = paycore("--format", "json", "--lang", "en")
    unknown = CliRunner().invoke(
        app, ["bills", "render", "--merchant", "mch_nobody", "--month", MONTH], env=env
    )

    assert html.exit_code == 0, html.output
    assert "2026年11月账单" in (tmp_path / "bill.html").read_text()
    assert pdf.exit_code == 0, pdf.output
    assert (tmp_path / "bill.pdf").read_bytes().startswith(b"%PDF-")
    assert data.exit_code == 0, data.output
    assert json.loads(data.stdout)["title"] == "Lakeside Rentals: bill for November 2026"
    assert unknown.exit_code == 2 and "merchant_not_found" in unknown.output
