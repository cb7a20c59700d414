"""Dates from outside lie in the business years (limits.BUSINESS_DATE_MIN..MAX): a date
near year 1 or 9999 is `date_out_of_range` at input, before any arithmetic could
overflow into a 500, and a plan stored before this rule still reads."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from paycore import limits
from paycore.collection import store as collection_store
from paycore.collection.model import PERIODS_MAX, Method, Terms, due_at, periods_in_range
from paycore.errors import Rejected
from paycore.runtime import Runtime
from paycore.sandbox_bank.model import INVALID_REQUEST
from paycore.sandbox_bank.request_fields import instant_of
from tests.payments.http_conftest import Tenant, new_tenant

FAR = ["0001-01-01", "1999-12-31", "2100-01-01", "9999-12-31"]


@pytest.fixture
def agency(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Agency")


def plan_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant": "tenant1", "landlord": "landlord1", "amount": 300_000, "currency": "CNY",
        "due_day": 1, "start_month": "2026-02", "periods": 3, "method": "wallet",
    }  # fmt: skip
    return {**body, **changes}


def assert_out_of_range(answer: Any) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "date_out_of_range"


@pytest.mark.parametrize("day", FAR)
def test_a_recon_run_for_a_date_outside_the_business_years_is_refused(
    client: TestClient, day: str
) -> None:
    assert_out_of_range(client.post("/v1/recon/runs", json={"source": "s", "business_date": day}))


@pytest.mark.parametrize("day", FAR)
def test_custody_dates_outside_the_business_years_are_refused_in_bodies_queries_and_paths(
    client: TestClient, day: str
) -> None:
    cutoff = client.post("/v1/custody/cutoffs", json={"bank": "b", "business_date": day})
    check = client.post(
        "/v1/custody/checks", json={"bank": "b", "business_date": day, "bank_balance": 0}
    )
    shown = client.get(f"/v1/custody/cutoffs/b/{day}")

    for answer in (cutoff, check, shown):
        assert_out_of_range(answer)


@pytest.mark.parametrize("day", FAR)
def test_success_rates_over_a_range_outside_the_business_years_are_refused(
    client: TestClient, day: str
) -> None:
    low = client.get("/v1/stats/success-rates", params={"date_from": day, "date_to": "2026-01-01"})
    high = client.get("/v1/stats/success-rates", params={"date_from": "2026-01-01", "date_to": day})

    assert_out_of_range(low)
    assert_out_of_range(high)


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_a_balance_at_an_instant_outside_the_business_years_is_refused(
    client: TestClient, at: str
) -> None:
    account = client.post("/v1/accounts", json={"currency": "CNY"}).json()["id"]

    assert_out_of_range(client.get(f"/v1/accounts/{account}/balance", params={"at": at}))


@pytest.mark.parametrize(
    "changes",
    [
        {"start_month": "9999-12"},
        {"start_month": "2100-01"},
        {"start_month": "2099-12", "periods": 2},
        {"start_month": "2090-02", "periods": PERIODS_MAX},
    ],
)
def test_a_collection_plan_whose_periods_leave_the_business_years_is_refused(
    client: TestClient, agency: Tenant, changes: dict[str, Any]
) -> None:
    answer = client.post("/v1/collection-plans", json=plan_body(**changes), headers=agency.auth)

    assert_out_of_range(answer)
    assert client.get("/v1/collection-plans", headers=agency.auth).json()["data"] == []


@pytest.mark.parametrize(("start", "periods"), [("2099-11", 2), ("2099-06", None)])
def test_a_plan_ends_at_the_last_business_month_at_the_latest(
    client: TestClient, agency: Tenant, start: str, periods: int | None
) -> None:
    body = plan_body(start_month=start, periods=periods)

    answer = client.post("/v1/collection-plans", json=body, headers=agency.auth)

    assert answer.status_code == 201, answer.text
    shown = client.get(f"/v1/collection-plans/{answer.json()['id']}", headers=agency.auth)
    assert shown.json()["schedule"][-1]["due_date"] == "2099-12-01"


def test_a_plan_stored_with_a_far_start_month_still_reads(
    client: TestClient, runtime: Runtime, agency: Tenant
) -> None:
    created = client.post(
        "/v1/collection-plans", json=plan_body(periods=None), headers=agency.auth
    ).json()
    with runtime.engine.begin() as conn:  # as a plan accepted before the rule was stored
        conn.execute(
            update(collection_store.plans)
            .where(collection_store.plans.c.id == created["id"])
            .values(start_month=limits.BUSINESS_DATE_MAX.replace(year=9999, day=1))
        )

    shown = client.get(f"/v1/collection-plans/{created['id']}", headers=agency.auth)
    listed = client.get("/v1/collection-plans", headers=agency.auth)

    assert shown.status_code == 200, shown.text
    assert listed.status_code == 200, listed.text
    assert len(shown.json()["schedule"]) < PERIODS_MAX


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_the_sandbox_bank_refuses_an_instant_that_overflows_in_utc(text: str) -> None:
    with pytest.raises(Rejected) as refused:
        instant_of({"finished_at": text}, "finished_at")

    assert refused.value.code == INVALID_REQUEST and "finished_at" in refused.value.detail


@given(
    start=st.builds(date, st.integers(2000, 9999), st.integers(1, 12), st.just(1)),
    period_no=st.integers(1, 1_000),
)
def test_a_stored_plan_of_any_start_month_never_overflows_its_schedule(
    start: date, period_no: int
) -> None:
    plan_terms = Terms(
        tenant="t", landlord="l", amount=100, currency="CNY", due_day="last",
        start_month=start, periods=None, method=Method.WALLET, fee_bps=None, fee_fixed=None,
        max_attempts=1, retry_interval_s=3600,
    )  # fmt: skip

    at = due_at(plan_terms, period_no)

    assert at is None or at.date() <= limits.BUSINESS_DATE_MAX
    assert (at is None) == (period_no > periods_in_range(start))
