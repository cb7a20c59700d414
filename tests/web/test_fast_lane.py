"""The fast lane (web/fastlane.py) answers a well-formed request to a hot route exactly as the
route would, and leaves every request it is not sure about to the route."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from paycore.security.model import Scope
from paycore.security.service import ApiKeys
from paycore.web import fastlane

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def accounts(client: TestClient) -> None:
    for account_id in ("acct_a", "acct_b"):
        response = client.post("/v1/accounts", json={"id": account_id, "currency": "CNY"})
        assert response.status_code == 201, response.text


def transfers(transfer_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "id": transfer_id, "debit_account_id": "acct_a", "credit_account_id": "acct_b",
        "amount": 100, "currency": "CNY", **fields,
    }  # fmt: skip
    return {"transfers": [body]}


@pytest.mark.usefixtures("accounts")
def test_a_transfer_through_the_lane_is_answered_byte_for_byte_as_the_route_answers(
    client: TestClient, api_keys: ApiKeys, laned: list[str]
) -> None:
    api_keys.clear_cache()  # the first request authenticates through the route
    by_route = client.post("/v1/transfers", json=transfers("t1"))
    by_lane = client.post("/v1/transfers", json=transfers("t2"))

    assert laned == ["/v1/transfers"]
    assert by_route.status_code == by_lane.status_code == 200
    assert by_route.content.replace(b"t1", b"t2") == by_lane.content
    without_id = [
        {k: v for k, v in r.headers.items() if k != "x-request-id"} for r in (by_route, by_lane)
    ]
    assert without_id[0] == without_id[1]
    assert by_lane.headers["x-request-id"].startswith("req")


@pytest.mark.usefixtures("accounts")
def test_a_refusal_of_the_ledger_comes_through_the_lane_as_the_same_answer(
    client: TestClient, laned: list[str]
) -> None:
    client.post("/v1/transfers", json=transfers("warm"))
    same_id = client.post("/v1/transfers", json=transfers("warm", amount=7))

    assert laned == ["/v1/transfers", "/v1/transfers"]
    assert same_id.json() == {"results": [{"id": "warm", "result": "exists_with_different_amount"}]}


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"transfers": [{"id": "x", "amount": 1, "colour": "red"}]}', 422, "unknown_field"),
        (b'{"transfers": [], "transfers": []}', 400, "malformed_json"),
        (b'{"transfers": [{"id": "x\\u0000"}]}', 422, "invalid_text"),
        (b'{"transfers": []}', 422, "batch_empty"),
        (b"", 422, "missing_field"),
    ],
)
def test_a_body_the_route_refuses_is_left_to_the_route(
    client: TestClient, laned: list[str], body: bytes, status: int, code: str
) -> None:
    client.post("/v1/transfers", json=transfers("warm"))  # the key is now in the cache
    response = client.post(
        "/v1/transfers", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["code"] == code
    assert laned == ["/v1/transfers"]


@pytest.mark.usefixtures("accounts")
def test_a_key_revoked_in_this_process_is_refused_at_once_though_it_was_in_the_cache(
    client: TestClient, api_keys: ApiKeys, laned: list[str]
) -> None:
    key, clear = api_keys.issue(merchant_id=None, scopes=[Scope.LEDGER_WRITE], label="soon gone")
    auth = {"Authorization": f"Bearer {clear}"}
    assert client.post("/v1/transfers", json=transfers("r1"), headers=auth).status_code == 200
    assert client.post("/v1/transfers", json=transfers("r2"), headers=auth).status_code == 200
    api_keys.revoke(key.id)

    refused = client.post("/v1/transfers", json=transfers("r3"), headers=auth)

    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthenticated"
    assert refused.headers["www-authenticate"] == 'Bearer realm="paycore"'
    assert laned == ["/v1/transfers"]


@pytest.mark.usefixtures("accounts")
def test_a_cached_key_without_the_scope_gets_the_routes_403(
    client: TestClient, api_keys: ApiKeys, laned: list[str]
) -> None:
    _key, clear = api_keys.issue(merchant_id=None, scopes=[Scope.LEDGER_READ], label="reader")
    auth = {"Authorization": f"Bearer {clear}"}
    assert client.get("/v1/accounts/acct_a", headers=auth).status_code == 200  # now cached

    refused = client.post("/v1/transfers", json=transfers("s1"), headers=auth)

    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert laned == []


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/v1/transfers?dry_run=1", {}),
        ("/v1/transfers", {"Content-Type": "text/plain"}),
        ("/v1/transfers", {"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}),
        ("/v1/transfers/", {}),
    ],
)
def test_a_request_off_the_lanes_shape_is_answered_by_the_route(
    client: TestClient, api_keys: ApiKeys, laned: list[str], url: str, headers: dict[str, str]
) -> None:
    client.post("/v1/transfers", json=transfers("warm"))
    laned.clear()
    api_keys.clear_cache()
    client.post("/v1/transfers", json=transfers("warm2"))  # cached again, by the route
    routed = client.post(url, content=b'{"transfers": []}', headers=headers)
    laned_after = list(laned)

    assert laned_after == []
    assert routed.status_code in (401, 404, 405, 422), routed.text
    assert routed.headers["content-type"].startswith(PROBLEM_JSON)


def test_a_channel_callback_goes_through_the_lane_and_its_refusal_is_the_routes(
    client: TestClient, laned: list[str]
) -> None:
    client.headers.pop("Authorization")
    response = client.post("/v1/channels/nowhere/notifications", content=b"{}")

    assert laned == ["/v1/channels/nowhere/notifications"]
    assert response.status_code == 404
    assert response.json()["code"] == "channel_not_found"
    assert response.headers["x-request-id"].startswith("req")


def test_a_channel_name_with_a_control_character_is_left_to_the_route(
    client: TestClient, laned: list[str]
) -> None:
    response = client.post("/v1/channels/bad%01name/notifications", content=b"{}")

    assert laned == []
    assert response.json()["code"] == "invalid_text"


def test_a_body_read_by_the_lane_is_replayed_to_the_route_as_it_came() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"a"', "more_body": True},
        {"type": "http.request", "body": b": 1}", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    async def replayed() -> list[Message]:
        body, last = await fastlane._read_body(receive)
        replay = fastlane._replay(body, last, receive)
        return [await replay(), await replay()]

    first, second = asyncio.run(replayed())
    assert first == {"type": "http.request", "body": b'{"a": 1}', "more_body": True}
    assert second == {"type": "http.disconnect"}


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("/v1/transfers", "/v1/transfers", {}),
        ("/v1/transfers", "/v1/transfers/", None),
        (
            "/v1/channels/{channel}/notifications",
            "/v1/channels/bank-a/notifications",
            {"channel": "bank-a"},
        ),
        ("/v1/channels/{channel}/notifications", "/v1/channels//notifications", None),
        ("/v1/channels/{channel}/notifications", "/v1/channels/a/b/notifications", None),
    ],
)
def test_a_lane_matches_its_path_as_the_router_would(
    template: str, path: str, params: dict[str, str] | None
) -> None:
    async def handle(_request: fastlane.LaneRequest) -> Any:
        raise AssertionError

    assert fastlane.Lane("POST", template, handle).match(path) == params
