"""Pay-ins and callbacks through the web app's fast lane (web/fastlane.py) are answered as
the routes answer them: same status, body, headers, idempotent replay and refusals."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from paycore.runtime import Runtime
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import Tenant, create_payin, new_tenant, notify, payin_body


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Shop")


def test_a_payin_replayed_through_the_lane_is_the_routes_first_answer(
    client: TestClient, shop: Tenant, alpha: ScriptedChannel, laned: list[str]
) -> None:
    first = create_payin(client, shop, idempotency_key="same")  # authenticates: the route
    replayed = create_payin(client, shop, idempotency_key="same")

    assert laned == ["/v1/payins"]
    assert (first.status_code, replayed.status_code) == (201, 201)
    assert replayed.json() == first.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert first.headers["content-type"] == replayed.headers["content-type"]
    assert len(alpha.calls) == 1


def test_a_payin_refused_in_the_lane_gets_the_routes_problem(
    client: TestClient, shop: Tenant, laned: list[str]
) -> None:
    create_payin(client, shop)  # authenticates the key: the route
    invalid = client.post("/v1/payins", json={}, headers=shop.headers())  # to the route
    # A valid body without an Idempotency-Key: the lane takes it, the handler refuses it.
    no_idempotency = client.post("/v1/payins", json=payin_body(), headers=shop.auth)

    assert invalid.status_code == 422
    assert invalid.json()["code"] == "missing_field"
    assert no_idempotency.status_code == 400
    assert no_idempotency.json()["code"] == "idempotency_key_missing"
    assert laned == ["/v1/payins"]


def test_a_callback_through_the_lane_settles_the_payin(
    client: TestClient, shop: Tenant, laned: list[str]
) -> None:
    created = create_payin(client, shop).json()

    answer = notify(client, created["id"])

    assert answer.status_code == 200 and answer.json() == {"received": True}
    assert laned[-1] == "/v1/channels/alpha/notifications"
    shown = client.get(f"/v1/payins/{created['id']}", headers=shop.auth).json()
    assert shown["status"] == "succeeded"


def test_a_badly_signed_callback_is_refused_as_the_route_refuses_it(
    client: TestClient, shop: Tenant, laned: list[str]
) -> None:
    created = create_payin(client, shop).json()

    refused = notify(client, created["id"], signature="forged")

    assert refused.status_code == 401
    assert refused.json()["code"] == "bad_signature"
    assert laned[-1] == "/v1/channels/alpha/notifications"
