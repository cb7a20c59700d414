"""`/v1/finance/...` for admin keys: a day's vouchers, one voucher, derive, reconcile,
status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from paycore.finance import api as finance_api
from paycore.finance.service import Finance
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.finance.conftest import SEEDED_DAY, FakeReceiver, Shop, after_day


@pytest.fixture
def http(runtime: Runtime, finance: Finance, admin_key: str) -> Iterator[TestClient]:
    """The app with the finance router, as the integrator wires it (runtime.finance)."""
    runtime.finance = finance  # type: ignore[attr-defined]
    app = create_app(runtime=runtime)
    app.include_router(finance_api.router)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


def test_an_admin_derives_a_day_lists_its_vouchers_and_reads_one_with_its_lines(
    seeded_day: Shop, http: TestClient
) -> None:
    after_day(seeded_day.clock)

    derived = http.post("/v1/finance/days/2026-11-30/derive")
    again = http.post("/v1/finance/days/2026-11-30/derive")
    listed = http.get("/v1/finance/vouchers", params={"date": "2026-11-30"})
    one = http.get("/v1/finance/vouchers/vch_20261130_refund_CNY")

    assert derived.status_code == 200, derived.text
    assert derived.json()["written"] == 6 and again.json()["written"] == 0
    assert [v["id"] for v in listed.json()["data"]] == derived.json()["vouchers"]
    assert "lines" not in listed.json()["data"][0]
    body = one.json()
    assert body["voucher_type"] == "refund" and body["push_status"] == "pending"
    assert sum(line["debit_minor"] for line in body["lines"]) == body["credit_total_minor"] > 0


def test_the_reconciliation_of_a_day_is_run_and_read_back(
    seeded_day: Shop, http: TestClient, finance: Finance, receiver: FakeReceiver
) -> None:
    after_day(seeded_day.clock)
    http.post("/v1/finance/days/2026-11-30/derive")
    assert http.get("/v1/finance/days/2026-11-30/reconciliation").json()["status"] == "pending"
    receiver.book_all(finance, SEEDED_DAY)

    ran = http.post("/v1/finance/days/2026-11-30/reconcile")
    read = http.get("/v1/finance/days/2026-11-30/reconciliation")

    assert ran.json()["status"] == "ok" and ran.json()["breaks"] == []
    assert read.json() == ran.json()


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("get", "/v1/finance/vouchers/vch_nope", "finance_voucher_not_found"),
        ("get", "/v1/finance/days/2026-11-30/reconciliation", "finance_day_not_found"),
        ("post", "/v1/finance/days/2026-01-01/derive", "finance_day_not_over"),
        ("post", "/v1/finance/days/2999-01-01/derive", "date_out_of_range"),
        ("get", "/v1/finance/vouchers?date=30.11.2026", "invalid_date"),
    ],
)
def test_refusals_are_problems_with_their_codes(
    http: TestClient, method: str, path: str, code: str
) -> None:
    answer = getattr(http, method)(path)
    assert answer.json()["code"] == code, answer.text


def test_a_key_without_the_admin_scope_is_forbidden(http: TestClient, runtime: Runtime) -> None:
    _key, clear = runtime.api_keys.issue(merchant_id=None, scopes=["ledger:read"], label="t")
    answer = http.get(
        "/v1/finance/vouchers",
        params={"date": "2026-11-30"},
        headers={"Authorization": f"Bearer {clear}"},
    )
    assert answer.status_code == 403


def test_the_status_says_what_is_behind(seeded_day: Shop, http: TestClient) -> None:
    after_day(seeded_day.clock)
    underived = http.get("/v1/finance/status").json()
    http.post("/v1/finance/days/2026-11-30/derive")
    seeded_day.clock.advance(60)

    pending = http.get("/v1/finance/status").json()

    assert (underived["finished_days_not_derived"], underived["oldest_underived_day"]) == (
        1, "2026-11-30"
    )  # fmt: skip
    assert (pending["finished_days_not_derived"], pending["vouchers_pending"]) == (0, 6)
    assert pending["behind"] == ["vouchers not pushed: 6, oldest 60 s"]
