"""Every JSON body on every route is read strictly: a body that is not UTF-8, not JSON,
nested past the bound, or names a key twice is a problem+json `malformed_json` naming the
problem, never a 500, a bare 400 or a silent guess."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from paycore import limits, strict_json
from paycore.errors import Rejected
from paycore.web.app import create_app
from paycore.web.bodies import JsonRoute


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        inner = getattr(route, "original_router", None)  # an included router
        if inner is not None:
            found.extend(_api_routes(list(inner.routes)))
    return found


ROUTES = _api_routes(list(create_app().routes))
JSON_BODY_ROUTES = sorted(
    (method, route.path) for route in ROUTES if route.body_field for method in route.methods
)
DEEP = b"[" * 100_000 + b"]" * 100_000

BAD_BODIES = [
    pytest.param(b'{"a": "\xff\xfe"}', "not UTF-8", id="invalid_utf8"),
    pytest.param(b'{"a": 1,', "Expecting", id="invalid_json"),
    pytest.param(DEEP, "nested deeper than", id="deep_array"),
    pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested deeper", id="deep_object"),
    pytest.param(b'{"amount": 100, "amount": 999999}', "duplicate key 'amount'", id="duplicate"),
    pytest.param(b'{"a": {"b": [{"c": 1, "c": 2}]}}', "duplicate key 'c'", id="duplicate_deep"),
    pytest.param(b'{"amount": NaN}', "NaN", id="nan"),
    pytest.param(b'{"amount": 1' + b"0" * 5000 + b"}", "digits", id="huge_integer"),
]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def assert_malformed(answer: Any, detail: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["code"] == "malformed_json"
    assert detail in body["detail"]


def test_the_app_has_json_body_routes_to_check() -> None:
    assert len(JSON_BODY_ROUTES) > 20


def test_every_route_reads_its_body_strictly() -> None:
    loose = [route.path for route in ROUTES if not isinstance(route, JsonRoute)]

    assert loose == []


@pytest.mark.parametrize(("method", "path"), JSON_BODY_ROUTES)
def test_a_malformed_json_body_is_refused_on_every_route(
    client: TestClient, subtests: pytest.Subtests, method: str, path: str
) -> None:
    # One app per route, each bad body a subtest: a new app builds every route on its first
    # request, which cost more than the eight requests together.
    for bad in BAD_BODIES:
        body, detail = bad.values
        with subtests.test(bad.id):
            answer = client.request(
                method, _concrete(path), content=body, headers={"Content-Type": "application/json"}
            )

            assert_malformed(answer, detail)


@pytest.mark.parametrize(("body", "detail"), BAD_BODIES)
def test_a_malformed_json_reward_batch_is_refused(
    client: TestClient, body: bytes, detail: str
) -> None:
    answer = client.post(
        "/v1/reward-batches", content=body, headers={"Content-Type": "application/json"}
    )

    assert_malformed(answer, detail)


def test_a_duplicate_key_names_the_key_and_nothing_is_created(client: TestClient) -> None:
    body = b'{"id": "m_dup", "name": "One", "name": "Two"}'

    answer = client.post(
        "/v1/merchants", content=body, headers={"Content-Type": "application/json"}
    )

    assert_malformed(answer, "duplicate key 'name'")
    assert client.get("/v1/merchants/m_dup").status_code == 404


def test_json_nested_to_the_bound_is_read() -> None:
    nested = "[" * limits.JSON_DEPTH_MAX + "]" * limits.JSON_DEPTH_MAX

    assert strict_json.loads(nested) == strict_json.loads(nested.encode())


def test_brackets_inside_strings_are_text_not_nesting() -> None:
    text = '{"note": "' + "[" * 1000 + '"}'

    assert strict_json.loads(text) == {"note": "[" * 1000}


@pytest.mark.parametrize(("body", "detail"), BAD_BODIES)
def test_strict_json_refuses_with_the_code_every_caller_maps(body: bytes, detail: str) -> None:
    with pytest.raises(Rejected) as refused:
        strict_json.loads(body)

    assert refused.value.code == "malformed_json"
    assert detail in refused.value.detail
