"""Bad input to the payments API: each refusal is a problem+json with a stable code, and
nothing is written and no bank is called."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from paycore import limits
from paycore.merchants.model import MerchantStatus
from paycore.payments.model import OrderKind
from paycore.runtime import Runtime
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import (
    Tenant,
    new_tenant,
    order_count,
    paid_payin,
    payin_body,
    payout_body,
    wallet,
)


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Shop", fee_bps=100)


def assert_problem(answer: Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    assert body["detail"]


def assert_nothing_happened(runtime: Runtime, alpha: ScriptedChannel) -> None:
    for kind in OrderKind:
        assert order_count(runtime, kind) == 0, kind
    assert alpha.calls == []


def _payer(**changes: Any) -> dict[str, Any]:
    return {"card_number": "6222021234567890", **changes}


PAYIN_CASES = [
    pytest.param({"amount": 0}, "amount_must_be_positive", id="amount_zero"),
    pytest.param({"amount": -1}, "amount_must_be_positive", id="amount_negative"),
    pytest.param({"amount": 10.5}, "wrong_type", id="amount_float"),
    pytest.param({"amount": "100"}, "wrong_type", id="amount_string"),
    pytest.param({"amount": True}, "wrong_type", id="amount_bool"),
    pytest.param({"amount": None}, "wrong_type", id="amount_null"),
    pytest.param(
        {"amount": limits.PAYMENT_AMOUNT_MAX + 1}, "amount_too_large", id="amount_over_max"
    ),
    pytest.param({"amount": 2**64}, "amount_too_large", id="amount_2_pow_64"),
    pytest.param({"currency": "XYZ"}, "unknown_currency", id="unknown_currency"),
    pytest.param({"currency": "cny"}, "unknown_currency", id="lowercase_currency"),
    pytest.param({"currency": "EURO"}, "value_too_long", id="currency_too_long"),
    pytest.param({"colour": "red"}, "unknown_field", id="unknown_field"),
    pytest.param({"payer": _payer(cvv="123")}, "unknown_field", id="unknown_payer_field"),
    pytest.param({"payer": None}, "wrong_type", id="payer_null"),
    pytest.param(
        {"payer": _payer(card_number="6222abcd12345678")}, "invalid_card_number", id="card_letters"
    ),
    pytest.param(
        {"payer": _payer(card_number="62220212")}, "invalid_card_number", id="card_too_short"
    ),
    pytest.param({"payer": _payer(card_number="6" * 20)}, "invalid_card_number", id="card_long"),
    pytest.param(
        {"payer": _payer(card_number="6222 0212 3456 7890")},
        "invalid_card_number",
        id="card_spaces",
    ),
    pytest.param(
        {"payer": _payer(card_number="١٢٣٤٥٦٧٨٩٠١٢")},
        "invalid_card_number",
        id="card_non_ascii_digits",
    ),
    pytest.param({"expires_in_s": 59}, "invalid_expiry", id="expiry_too_short"),
    pytest.param(
        {"expires_in_s": limits.PAYIN_EXPIRY_S_MAX + 1}, "invalid_expiry", id="expiry_too_long"
    ),
    pytest.param({"expires_in_s": 600.5}, "wrong_type", id="expiry_float"),
    pytest.param({"product": "Rent!"}, "invalid_product", id="bad_product"),
    pytest.param({"product": ""}, "value_too_short", id="empty_product"),
    pytest.param(
        {"description": "x" * (limits.DESCRIPTION_LENGTH_MAX + 1)},
        "value_too_long",
        id="description_too_long",
    ),
    pytest.param(
        {"merchant_reference": "order 1"}, "invalid_merchant_reference", id="bad_reference"
    ),
    pytest.param(
        {"metadata": {"note": "x" * limits.METADATA_BYTES_MAX}},
        "metadata_too_large",
        id="metadata_too_large",
    ),
]


@pytest.mark.parametrize(("change", "code"), PAYIN_CASES)
def test_a_payin_with_bad_input_is_422_with_a_stable_code_and_changes_nothing(
    client: TestClient,
    runtime: Runtime,
    shop: Tenant,
    alpha: ScriptedChannel,
    change: dict[str, Any],
    code: str,
) -> None:
    answer = client.post("/v1/payins", json=payin_body(**change), headers=shop.headers())

    assert_problem(answer, 422, code)
    assert_nothing_happened(runtime, alpha)
    payer = change.get("payer")
    card = payer.get("card_number") if isinstance(payer, dict) else None
    assert card is None or card not in answer.text  # a refusal never echoes the card


def test_a_payin_without_a_required_field_names_the_missing_field(
    client: TestClient, runtime: Runtime, shop: Tenant, alpha: ScriptedChannel
) -> None:
    body = payin_body()
    del body["payer"]

    answer = client.post("/v1/payins", json=body, headers=shop.headers())

    assert_problem(answer, 422, "missing_field")
    assert answer.json()["errors"][0]["loc"] == ["body", "payer"]
    assert_nothing_happened(runtime, alpha)


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        pytest.param(b'{"amount": ', 400, "malformed_json", id="truncated"),
        pytest.param(b"{'amount': 1}", 400, "malformed_json", id="single_quotes"),
        pytest.param(b"[]", 422, "wrong_type", id="array"),
        pytest.param(b"null", 422, "wrong_type", id="null"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    client: TestClient,
    runtime: Runtime,
    shop: Tenant,
    alpha: ScriptedChannel,
    raw: bytes,
    status: int,
    code: str,
) -> None:
    answer = client.post(
        "/v1/payins",
        content=raw,
        headers={**shop.headers(), "content-type": "application/json"},
    )

    assert_problem(answer, status, code)
    assert_nothing_happened(runtime, alpha)


def test_an_idempotency_key_over_the_limit_is_400(
    client: TestClient, runtime: Runtime, shop: Tenant, alpha: ScriptedChannel
) -> None:
    too_long = "k" * (limits.IDEMPOTENCY_KEY_LENGTH_MAX + 1)

    answer = client.post("/v1/payins", json=payin_body(), headers=shop.headers(too_long))

    assert_problem(answer, 400, "idempotency_key_too_long")
    assert_nothing_happened(runtime, alpha)


def test_a_suspended_merchants_key_creates_nothing(
    client: TestClient, runtime: Runtime, alpha: ScriptedChannel
) -> None:
    shop = new_tenant(runtime, "Closed shop")
    runtime.merchants.set_status(shop.id, MerchantStatus.SUSPENDED)

    payin = client.post("/v1/payins", json=payin_body(), headers=shop.headers())
    payout = client.post("/v1/payouts", json=payout_body(), headers=shop.headers())

    assert_problem(payin, 422, "merchant_not_active")
    assert_problem(payout, 422, "merchant_not_active")
    assert_nothing_happened(runtime, alpha)


def test_a_refused_request_leaves_its_idempotency_key_free_for_a_corrected_retry(
    client: TestClient, runtime: Runtime, shop: Tenant, alpha: ScriptedChannel
) -> None:
    bad = client.post("/v1/payins", json=payin_body(currency="XYZ"), headers=shop.headers("k1"))
    good = client.post("/v1/payins", json=payin_body(), headers=shop.headers("k1"))

    assert_problem(bad, 422, "unknown_currency")
    assert good.status_code == 201
    assert "Idempotent-Replayed" not in good.headers
    assert order_count(runtime) == 1 and len(alpha.calls) == 1


PAYOUT_CASES = [
    pytest.param({"amount": 0}, "amount_must_be_positive", id="amount_zero"),
    pytest.param({"amount": 1.5}, "wrong_type", id="amount_float"),
    pytest.param(
        {"amount": limits.PAYMENT_AMOUNT_MAX + 1}, "amount_too_large", id="amount_over_max"
    ),
    pytest.param({"currency": "XYZ"}, "unknown_currency", id="unknown_currency"),
    pytest.param(
        {"beneficiary": {"account_number": "6217-0000", "name": "李四"}},
        "invalid_account_number",
        id="account_with_dash",
    ),
    pytest.param(
        {"beneficiary": {"account_number": "621", "name": "李四"}},
        "invalid_account_number",
        id="account_too_short",
    ),
    pytest.param(
        {"beneficiary": {"account_number": "62170000", "name": " "}},
        "missing_beneficiary_name",
        id="blank_name",
    ),
    pytest.param(
        {"beneficiary": {"account_number": "62170000", "name": ""}},
        "missing_beneficiary_name",
        id="empty_name",
    ),
    pytest.param({"iban": "DE00"}, "unknown_field", id="unknown_field"),
]


@pytest.mark.parametrize(("change", "code"), PAYOUT_CASES)
def test_a_payout_with_bad_input_is_422_and_holds_nothing(
    client: TestClient,
    runtime: Runtime,
    shop: Tenant,
    alpha: ScriptedChannel,
    change: dict[str, Any],
    code: str,
) -> None:
    answer = client.post("/v1/payouts", json=payout_body(**change), headers=shop.headers())

    assert_problem(answer, 422, code)
    assert_nothing_happened(runtime, alpha)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"amount": 0}, "amount_must_be_positive", id="amount_zero"),
        pytest.param({"amount": "5"}, "wrong_type", id="amount_string"),
        pytest.param({"amount": 10_001}, "refund_exceeds_refundable", id="above_paid"),
        pytest.param({"amount": 2**64}, "amount_too_large", id="absurd_amount"),
        pytest.param({"amount": 1, "note": "x"}, "unknown_field", id="unknown_field"),
    ],
)
def test_a_refund_with_bad_input_is_422_and_moves_nothing(
    client: TestClient,
    runtime: Runtime,
    shop: Tenant,
    alpha: ScriptedChannel,
    body: dict[str, Any],
    code: str,
) -> None:
    payin_id = paid_payin(client, shop)
    calls = len(alpha.calls)

    answer = client.post(f"/v1/payins/{payin_id}/refunds", json=body, headers=shop.headers())

    assert_problem(answer, 422, code)
    assert order_count(runtime, OrderKind.REFUND) == 0
    assert len(alpha.calls) == calls
    assert wallet(client, shop)["held"] == 0


def test_a_refund_of_an_unknown_payin_is_404(
    client: TestClient, runtime: Runtime, shop: Tenant, alpha: ScriptedChannel
) -> None:
    answer = client.post(
        "/v1/payins/pay_00000000000000000000000000/refunds",
        json={"amount": 1},
        headers=shop.headers(),
    )

    assert_problem(answer, 404, "order_not_found")
    assert_nothing_happened(runtime, alpha)


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        pytest.param("/v1/payins", {"limit": "0"}, "limit_out_of_range", id="limit_zero"),
        pytest.param(
            "/v1/payins",
            {"limit": str(limits.ORDERS_PAGE_MAX + 1)},
            "limit_out_of_range",
            id="limit_over_max",
        ),
        pytest.param("/v1/payouts", {"status": "lost"}, "invalid_value", id="unknown_status"),
        pytest.param(
            "/v1/stats/success-rates",
            {"date_from": "yesterday", "date_to": "2026-01-01"},
            "invalid_date",
            id="bad_date",
        ),
        pytest.param(
            "/v1/stats/success-rates",
            {"date_from": "2025-01-01", "date_to": "2026-06-01"},
            "invalid_date_range",
            id="range_over_a_year",
        ),
        pytest.param(
            "/v1/stats/success-rates", {"date_to": "2026-01-01"}, "missing_field", id="no_start"
        ),
    ],
)
def test_a_read_with_bad_query_parameters_is_422_with_a_stable_code(
    client: TestClient, shop: Tenant, path: str, params: dict[str, str], code: str
) -> None:
    assert_problem(client.get(path, params=params, headers=shop.auth), 422, code)
