"""The bills' front (bills/front.py): admission decided before the router answers exactly
as the route would, and a slot it admits is freed once."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from paycore.bills.admission import Admission, Limits
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.bills.conftest import Shop


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    limits = dataclasses.replace(Limits.of(runtime.settings), running_max=1, time_share=None)
    runtime.bills_admission = Admission(limits)
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


def test_a_bill_refused_before_the_router_gets_the_routes_problem_and_retry_after(
    billed_merchant: Shop, runtime: Runtime, api: TestClient
) -> None:
    m = billed_merchant.merchant_id
    headers = {"Authorization": f"Bearer {billed_merchant.key}"}
    first = api.get(f"/v1/bills/{m}/statements/2026-10", headers=headers)  # caches the key
    runtime.bills_admission.enter("mch_other")  # the one slot is taken

    refused = api.get(f"/v1/bills/{m}/2026-10.json", headers=headers)

    assert first.status_code == 200
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "bills_busy"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers.get("X-Request-Id")
    assert runtime.bills_admission.refused_total["bills_busy"] == 1


def test_an_admitted_bill_is_counted_once_and_frees_its_slot(
    billed_merchant: Shop, runtime: Runtime, api: TestClient
) -> None:
    m = billed_merchant.merchant_id
    headers = {"Authorization": f"Bearer {billed_merchant.key}"}
    paths = [f"/v1/bills/{m}/statements/2026-10", f"/v1/bills/{m}/2026-10/statement"]
    answers = [api.get(path, headers=headers) for path in paths]
    missing = api.get(f"/v1/bills/{m}/statements/2026-10/lines/nope/fee", headers=headers)

    assert [a.status_code for a in answers] == [200, 200]
    assert missing.status_code == 404
    assert runtime.bills_admission.admitted_total == 3
    assert runtime.bills_admission.running == 0


def test_another_merchants_bill_is_still_404_when_the_front_admits_it(
    billed_merchant: Shop, runtime: Runtime, api: TestClient
) -> None:
    headers = {"Authorization": f"Bearer {billed_merchant.key}"}
    api.get(f"/v1/bills/{billed_merchant.merchant_id}/2026-10.json", headers=headers)

    other = api.get("/v1/bills/mch_someone_else/2026-10.json", headers=headers)

    assert other.status_code == 404
    assert other.json()["code"] == "merchant_not_found"
    assert runtime.bills_admission.running == 0
