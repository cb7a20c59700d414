"""Each class of disagreement schemathesis found between the OpenAPI document and the app,
pinned: the document says what the app does, and the app does what the document says."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from paycore import limits
from paycore.errors import Rejected
from paycore.money import is_known_currency
from paycore.payments.api import BeneficiaryIn, PayerIn
from paycore.payments.model import PRODUCT_PATTERN, check_product, check_reference
from paycore.text import text_problem
from paycore.wallets.model import OWNER_PATTERN
from paycore.web.app import create_app
from paycore.web.openapi import PROBLEM_MEDIA_TYPE, TEXT_PATTERN

DOCUMENT: dict[str, Any] = create_app().openapi()


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
    ]


def _operation(method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = DOCUMENT["paths"][path][method]
    return found


def test_every_refusal_in_the_document_is_a_problem_json_document() -> None:
    for method, path, operation in _operations():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], (method, path, status)
                schema = response["content"][PROBLEM_MEDIA_TYPE]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}
    assert "HTTPValidationError" not in DOCUMENT["components"]["schemas"]


def test_every_operation_documents_the_refusals_its_shape_allows() -> None:
    for method, path, operation in _operations():
        statuses = set(operation["responses"])
        assert "500" in statuses, (method, path)
        if operation.get("security"):
            assert {"401", "403"} <= statuses, (method, path)
        if "requestBody" in operation:
            assert {"400", "404", "413", "422"} <= statuses, (method, path)
        if method in ("post", "delete"):
            assert "409" in statuses, (method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/payins"),
        ("post", "/v1/payouts"),
        ("post", "/v1/payins/{payin_id}/refunds"),
        ("post", "/v1/splits/{split_id}/refunds"),
    ],
)
def test_the_idempotency_key_is_documented_as_required(method: str, path: str) -> None:
    [header] = [p for p in _operation(method, path)["parameters"] if p["in"] == "header"]

    assert header["name"] == "Idempotency-Key" and header["required"] is True
    assert header["schema"]["minLength"] == 1 and header["schema"]["maxLength"] == 128


def test_a_method_the_path_lacks_is_a_405_problem_naming_every_method_of_the_path(
    client: TestClient,
) -> None:
    answer = client.request("PATCH", "/v1/accounts")

    assert answer.status_code == 405
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.json()["code"] == "method_not_allowed"
    assert {m.strip() for m in answer.headers["allow"].split(",")} >= {"GET", "POST"}


def test_an_unknown_path_is_a_404_problem(client: TestClient) -> None:
    answer = client.get("/v1/no-such-thing")

    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.json()["code"] == "not_found"


def test_an_integer_written_with_a_fraction_of_zero_is_an_integer(client: TestClient) -> None:
    """JSON Schema counts 7.0 as an integer, so the app does too; 7.5 is still refused."""
    whole = client.post("/v1/accounts", json={"id": "acct_w", "currency": "CNY", "code": 7.0})
    fraction = client.post("/v1/accounts", json={"id": "acct_f", "currency": "CNY", "code": 7.5})

    assert whole.status_code == 201, whole.text
    assert whole.json()["code"] == 7
    assert fraction.status_code == 422 and fraction.json()["code"] == "wrong_type"


def test_an_amount_written_as_a_whole_float_moves_exactly_that_many_minor_units(
    client: TestClient,
) -> None:
    for account_id in ("acct_from", "acct_to"):
        assert client.post("/v1/accounts", json={"id": account_id, "currency": "CNY"}).is_success
    transfer = {"id": "tr_whole", "debit_account_id": "acct_from", "currency": "CNY"}
    body = {"transfers": [{**transfer, "credit_account_id": "acct_to", "amount": 1e2}]}

    answer = client.post("/v1/transfers", json=body)

    assert answer.status_code == 200, answer.text
    assert client.get("/v1/transfers/tr_whole").json()["amount"] == 100


def test_the_documented_currencies_are_exactly_those_the_app_accepts() -> None:
    currency = DOCUMENT["components"]["schemas"]["Currency"]

    assert currency["enum"] and all(is_known_currency(code) for code in currency["enum"])
    assert all(re.fullmatch(currency["pattern"].strip("^$"), code) for code in currency["enum"])
    assert DOCUMENT["components"]["schemas"]["AccountIn"]["properties"]["currency"] == {
        "$ref": "#/components/schemas/Currency"
    }


def test_the_documented_account_flags_are_the_names_the_app_accepts(client: TestClient) -> None:
    items = DOCUMENT["components"]["schemas"]["AccountIn"]["properties"]["flags"]["items"]

    for flag in items["enum"]:
        body = {"id": f"acct_{flag[:8]}", "currency": "CNY", "flags": [flag]}
        assert client.post("/v1/accounts", json=body).status_code == 201
    refused = client.post("/v1/accounts", json={"currency": "CNY", "flags": [""]})
    assert refused.json()["code"] == "unknown_flag"


def _documented_pattern(model: str, field: str) -> str:
    pattern: str = DOCUMENT["components"]["schemas"][model]["properties"][field]["pattern"]
    return pattern


@given(st.one_of(st.text(max_size=40), st.from_regex(r"[0-9]{10,21}", fullmatch=True)))
def test_the_documented_card_and_account_patterns_are_the_validators(value: str) -> None:
    for model, field in ((PayerIn, "card_number"), (BeneficiaryIn, "account_number")):
        pattern = _documented_pattern(model.__name__, field)
        try:
            model.model_validate({field: value, "name": "A"})
            accepted = True
        except ValidationError as exc:
            accepted = all(e["loc"] != (field,) for e in exc.errors())
        assert accepted == bool(re.fullmatch(pattern.strip("^$"), value)), (model, value)


@given(st.text(max_size=20))
def test_the_documented_text_pattern_is_what_the_app_refuses_as_not_text(value: str) -> None:
    has_surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    documented = re.fullmatch(TEXT_PATTERN.strip("^$"), value) is not None

    assert documented == (text_problem(value) is None) or has_surrogate


def test_text_fields_of_request_bodies_carry_the_text_pattern() -> None:
    refund = DOCUMENT["components"]["schemas"]["RefundIn"]["properties"]

    assert refund["reason"]["pattern"] == TEXT_PATTERN


def test_bodies_the_routes_read_themselves_are_documented() -> None:
    report = _operation("post", "/v1/recon/h2h/status-reports")
    imports = _operation("post", "/v1/recon/imports")
    batches = _operation("post", "/v1/reward-batches")

    assert "application/xml" in report["requestBody"]["content"]
    assert "201" in imports["responses"] and "200" in imports["responses"]
    assert set(batches["requestBody"]["content"]) == {"text/csv", "application/json"}


def test_metrics_are_documented_as_the_text_they_are(client: TestClient) -> None:
    documented = _operation("get", "/metrics")["responses"]["200"]["content"]

    assert list(documented) == ["text/plain"]
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "url",
    [
        "/v1/recon/breaks/2147483648",
        "/v1/recon/breaks/9223372036854775808",
        "/v1/recon/breaks?after=9223372036854775808",
        "/v1/reward-batches/b1/rows?after=9223372036854775808",
    ],
)
def test_an_integer_id_or_cursor_past_its_column_is_refused_not_a_500(
    client: TestClient, url: str
) -> None:
    answer = client.get(url)

    assert answer.status_code in (404, 422), answer.text
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE


def test_large_documented_bounds_are_the_limits_not_their_float_roundings() -> None:
    amount = DOCUMENT["components"]["schemas"]["TransferIn"]["properties"]["amount"]["anyOf"][0]

    assert amount["maximum"] == limits.AMOUNT_MAX and type(amount["maximum"]) is int


def test_the_csv_trial_balance_is_documented(client: TestClient) -> None:
    documented = _operation("get", "/v1/ledger/trial-balance")["responses"]["200"]["content"]
    answer = client.get("/v1/ledger/trial-balance", params={"format": "csv"})

    assert answer.headers["content-type"].split(";")[0] in documented


def test_a_path_spelled_out_allows_its_own_methods_not_those_of_a_template_beside_it(
    client: TestClient,
) -> None:
    answer = client.options("/v1/collection-plans/run-due")

    assert answer.status_code == 405 and answer.headers["allow"] == "POST"


@pytest.mark.parametrize("check", [check_product, check_reference])
def test_a_trailing_line_feed_does_not_pass_a_pattern_that_ends_in_a_dollar(check: Any) -> None:
    """`re.match` lets `$` match before a final newline; the document's pattern does not."""
    with pytest.raises(Rejected):
        check("rent\n")


@pytest.mark.parametrize(
    ("model", "field", "pattern"),
    [
        ("PayinIn", "product", PRODUCT_PATTERN),
        ("PayoutIn", "product", PRODUCT_PATTERN),
        ("RuleIn", "product", PRODUCT_PATTERN),
        ("WalletIn", "owner", OWNER_PATTERN),
        ("SubAccountIn", "owner", OWNER_PATTERN),
    ],
)
def test_products_and_owners_carry_the_pattern_the_model_checks(
    model: str, field: str, pattern: str
) -> None:
    assert _documented_pattern(model, field) == pattern


@pytest.mark.parametrize("given", [0, 1, "true", "yes"])
def test_a_boolean_field_takes_only_true_or_false(client: TestClient, given: Any) -> None:
    body = {"owner": "alice", "currency": "CNY", "merchant_id": "m1", "allow_negative": given}

    answer = client.post("/v1/wallets", json=body)

    assert answer.status_code == 422 and answer.json()["code"] == "wrong_type", answer.text


def test_keys_of_a_dict_field_are_documented_as_text_and_its_values_keep_their_type() -> None:
    parts = DOCUMENT["components"]["schemas"]["SplitRefundIn"]["properties"]["parts"]["anyOf"][0]

    assert parts["propertyNames"]["pattern"] == TEXT_PATTERN
    assert parts["additionalProperties"] == {"type": "integer", "minimum": 0}


def _untyped_schemas(node: Any, where: str) -> list[str]:
    """Where a request body's schema says "any value" (`{}`): such a value may hold text,
    and every text the app reads refuses control characters."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, child in node.items():
            if key in ("examples", "example", "default"):
                continue
            if child == {} and key in ("items", "additionalProperties"):
                found.append(f"{where}/{key}")
            if key == "properties" and isinstance(child, dict):
                found += [f"{where}/{name}" for name, value in child.items() if value == {}]
            found += _untyped_schemas(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _untyped_schemas(child, f"{where}/{index}")
    return found


def test_a_request_body_value_of_any_type_is_documented_as_json_whose_strings_are_text() -> None:
    bodies = [
        (f"{method} {path}", operation["requestBody"])
        for method, path, operation in _operations()
        if "requestBody" in operation
    ]
    schemas = {f"#/components/schemas/{n}": s for n, s in DOCUMENT["components"]["schemas"].items()}

    untyped = [
        spot
        for name, body in bodies
        for spot in _untyped_schemas(body, name)
        + [
            f"{name} {ref}{spot}"
            for ref in _refs(body)
            for spot in _untyped_schemas(schemas.get(ref, {}), "")
        ]
    ]

    assert untyped == []
    rows = _operation("post", "/v1/reward-batches")["requestBody"]["content"]["application/json"]
    assert rows["schema"]["properties"]["rows"]["items"] == {
        "$ref": "#/components/schemas/JsonText"
    }


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for child in node.values() for ref in _refs(child)]
    if isinstance(node, list):
        return [ref for child in node for ref in _refs(child)]
    return []
