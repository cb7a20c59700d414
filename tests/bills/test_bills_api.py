"""The statement routes: a merchant sees its own statements, each line leads to the orders
and transfers behind it, page by page; another merchant's are 404."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.bills.conftest import Shop, new_shop


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


def get(api: TestClient, shop: Shop, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {shop.key}"}
    # No `params` at all for a link: httpx would drop the link's own query string.
    answer = (
        api.get(path, params=params, headers=headers) if params else api.get(path, headers=headers)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_merchant_reads_its_month_and_follows_a_line_to_its_orders(
    billed_merchant: Shop, api: TestClient
) -> None:
    m = billed_merchant.merchant_id
    view = get(api, billed_merchant, f"/v1/bills/{m}/statements/2026-10")
    [wallet] = [a for a in view["accounts"] if a["account_id"] == billed_merchant.wallet]
    [rent] = [
        line
        for line in wallet["movements"]
        if (line["category"], line["product"]) == ("payin", "rent")
    ]

    behind = get(api, billed_merchant, rent["transfers"])

    assert rent["count"] == 3
    assert [item["order_id"] for item in behind["items"]] == [
        billed_merchant.payins[i] for i in (0, 2, 3)
    ]
    assert sum(item["amount_in"] for item in behind["items"]) == rent["amount_in"]
    assert behind["next_after"] is None


def test_the_transfers_behind_a_line_come_in_keyset_pages(
    billed_merchant: Shop, api: TestClient
) -> None:
    m = billed_merchant.merchant_id
    path = f"/v1/bills/{m}/statements/2026-10/lines/{billed_merchant.wallet}/fee"
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 1} if after is None else {"limit": 1, "after": after}
        page = get(api, billed_merchant, path, **params)
        seen += [item["transfer_id"] for item in page["items"]]
        after = page["next_after"]
        if after is None:
            break

    assert len(seen) == 4 == len(set(seen))
    assert all(t.endswith("_cap") for t in seen)


def test_a_day_statement_and_one_owners_statement_add_up(
    billed_merchant: Shop, api: TestClient
) -> None:
    m = billed_merchant.merchant_id
    day = get(api, billed_merchant, f"/v1/bills/{m}/statements/2026-11-01")
    owner = get(api, billed_merchant, f"/v1/bills/{m}/statements/2026-11", owner_id="landlord")

    assert day["period"]["kind"] == "day"
    assert {a["owner_id"] for a in owner["accounts"]} == {f"{m}:landlord"}
    for account in day["accounts"] + owner["accounts"]:
        assert account["difference"] == 0
    assert owner["extras"]["debts"] == [
        {"account_id": f"acct_ur_{m}_landlord", "code": 1301, "amount": 2_000}
    ]


def test_a_live_payout_hold_is_shown_with_its_amount(
    billed_merchant: Shop, api: TestClient
) -> None:
    view = get(api, billed_merchant, f"/v1/bills/{billed_merchant.merchant_id}/statements/2026-11")

    [hold] = view["extras"]["holds"]
    assert (hold["category"], hold["amount"], hold["direction"]) == ("payout", 15_000, "out")
    [wallet] = [a for a in view["accounts"] if a["account_id"] == billed_merchant.wallet]
    assert wallet["on_hold"] == 15_000


def test_another_merchants_statements_are_not_found(
    billed_merchant: Shop, api: TestClient, runtime: Runtime
) -> None:
    other = new_shop(runtime, billed_merchant.clock, billed_merchant.alpha, "Hilltop Flats")
    m = billed_merchant.merchant_id
    for path in (
        f"/v1/bills/{m}/statements/2026-10",
        f"/v1/bills/{m}/statements/2026-10/lines/{billed_merchant.wallet}/payin",
        f"/v1/bills/{m}/2026-10/statement",
    ):
        answer = api.get(path, headers={"Authorization": f"Bearer {other.key}"})
        assert answer.status_code == 404, answer.text


def test_a_sealed_month_is_served_with_its_hash_and_freshness(
    billed_merchant: Shop, api: TestClient
) -> None:
    m = billed_merchant.merchant_id
    open_month = get(api, billed_merchant, f"/v1/bills/{m}/2026-10/statement")
    billed_merchant.runtime.bills.close_month("2026-10")
    sealed = get(api, billed_merchant, f"/v1/bills/{m}/2026-10/statement")

    assert (open_month["sealed"], open_month["hash"]) == (False, None)
    assert sealed["sealed"] and len(sealed["hash"]) == 64
    assert sealed["lines"] == open_month["lines"]
    assert sealed["as_of"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("statements/2026-13", "invalid_month"),
        ("statements/20261101", "invalid_period"),
        ("statements/2026-10/lines/acct_nope/payin", "account_not_found"),
        ("statements/2026-10/lines/{wallet}/salary", "invalid_category"),
    ],
)
def test_bad_periods_and_lines_are_refused_with_a_stable_code(
    billed_merchant: Shop, api: TestClient, path: str, code: str
) -> None:
    url = f"/v1/bills/{billed_merchant.merchant_id}/" + path.format(wallet=billed_merchant.wallet)
    answer = api.get(url, headers={"Authorization": f"Bearer {billed_merchant.key}"})

    assert answer.status_code in (400, 404, 422), answer.text
    assert answer.json()["code"] == code
