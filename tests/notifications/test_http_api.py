"""Notifications over HTTP with real API keys: a merchant sees and resends only its own events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.merchants.service import Merchants
from paycore.notifications import api as notifications_api
from paycore.notifications.model import DeliveryStatus
from paycore.notifications.relay import WebhookRelay
from paycore.notifications.service import Notifications
from paycore.security.api import on_unauthenticated
from paycore.security.model import Scope, Unauthenticated
from paycore.security.service import ApiKeys
from paycore.web.problems import on_rejected, on_validation_error
from tests.notifications.conftest import Receiver

Emit = Callable[..., list[str]]


@pytest.fixture
def app(notifications: Notifications, api_keys: ApiKeys) -> FastAPI:
    """The router as the web app mounts it: the service on app.state, the problem handlers."""
    app = FastAPI()
    app.add_exception_handler(Rejected, on_rejected)
    app.add_exception_handler(Unauthenticated, on_unauthenticated)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.include_router(notifications_api.router)
    app.state.notifications = notifications
    app.state.api_keys = api_keys
    return app


@pytest.fixture
def keys(merchants: Merchants, api_keys: ApiKeys) -> dict[str, str]:
    for merchant_id in ("mer_a", "mer_b"):
        merchants.create(name=merchant_id, merchant_id=merchant_id)
    return {
        "mer_a": api_keys.issue(merchant_id="mer_a")[1],
        "mer_b": api_keys.issue(merchant_id="mer_b")[1],
        "mer_a_read": api_keys.issue(merchant_id="mer_a", scopes=[Scope.PAYMENTS_READ])[1],
        "platform": api_keys.issue(merchant_id=None, scopes=[Scope.PAYMENTS_READ])[1],
    }


@pytest.fixture
def as_key(app: FastAPI, keys: dict[str, str]) -> Iterator[Callable[[str], TestClient]]:
    clients: list[TestClient] = []

    def client(name: str) -> TestClient:
        c = TestClient(app, headers={"Authorization": f"Bearer {keys[name]}"})
        clients.append(c)
        return c

    yield client
    for c in clients:
        c.close()


def problem_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    code: str = response.json()["code"]
    return code


def test_a_merchant_lists_its_own_events_newest_first_in_pages(
    emit: Emit, as_key: Callable[[str], TestClient]
) -> None:
    mine = emit(3, merchant_id="mer_a")
    emit(2, merchant_id="mer_b")
    client = as_key("mer_a")

    first = client.get("/v1/notifications/events", params={"limit": 2}).json()
    rest = client.get(
        "/v1/notifications/events", params={"limit": 2, "after": first["next_cursor"]}
    ).json()

    assert [e["id"] for e in first["events"] + rest["events"]] == sorted(mine, reverse=True)
    assert rest["next_cursor"] is None
    event = first["events"][0]
    assert event["merchant_id"] == "mer_a"
    assert event["type"] == "payin.succeeded"
    assert event["delivery"]["status"] == "pending"


def test_a_platform_key_lists_every_merchants_events(
    emit: Emit, as_key: Callable[[str], TestClient]
) -> None:
    emit(3, merchant_id="mer_a")
    emit(2, merchant_id="mer_b")

    events = as_key("platform").get("/v1/notifications/events").json()["events"]

    assert Counter(e["merchant_id"] for e in events) == Counter(mer_a=3, mer_b=2)


def test_an_event_shows_its_delivery_and_attempts(
    emit: Emit, as_key: Callable[[str], TestClient], relay: WebhookRelay, receiver: Receiver
) -> None:
    [event_id] = emit(1, merchant_id="mer_a")
    receiver.answers = [500]
    relay.run_once()

    body = as_key("mer_a").get(f"/v1/notifications/events/{event_id}").json()

    assert body["id"] == event_id
    assert body["data"] == {"order_id": "pay_0", "amount": 100, "currency": "CNY"}
    assert body["delivery"]["status"] == "pending"
    assert body["delivery"]["attempts"] == 1
    assert body["delivery"]["last_status_code"] == 500
    [attempt] = body["attempts"]
    assert attempt["status_code"] == 500
    assert attempt["error"] == "http_500"


def test_another_merchants_event_is_not_found_to_read_or_resend(
    emit: Emit, as_key: Callable[[str], TestClient], notifications: Notifications
) -> None:
    [theirs] = emit(1, merchant_id="mer_b")
    client = as_key("mer_a")

    read = client.get(f"/v1/notifications/events/{theirs}")
    resend = client.post(f"/v1/notifications/events/{theirs}/resend")
    listed = client.get("/v1/notifications/events").json()["events"]

    assert problem_code(read, 404) == "event_not_found"
    assert problem_code(resend, 404) == "event_not_found"
    assert listed == []
    assert notifications.get_event(theirs, merchant_id=None).delivery.attempts == 0


def test_resend_needs_the_write_scope_and_schedules_the_event_again(
    emit: Emit, as_key: Callable[[str], TestClient], relay: WebhookRelay, receiver: Receiver,
    clock: ManualClock,
) -> None:  # fmt: skip
    [event_id] = emit(1, merchant_id="mer_a")
    relay.run_once()
    clock.advance(60)

    refused = as_key("mer_a_read").post(f"/v1/notifications/events/{event_id}/resend")
    accepted = as_key("mer_a").post(f"/v1/notifications/events/{event_id}/resend")
    relay.run_once()

    assert problem_code(refused, 403) == "forbidden"
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "pending"
    assert receiver.hits == Counter({event_id: 2})


def test_no_key_is_401_and_a_bad_limit_is_a_problem(
    app: FastAPI, as_key: Callable[[str], TestClient]
) -> None:
    with TestClient(app) as anonymous:
        missing = anonymous.get("/v1/notifications/events")

    too_many = as_key("mer_a").get("/v1/notifications/events", params={"limit": 1001})

    assert problem_code(missing, 401) == "unauthenticated"
    assert problem_code(too_many, 422) == "limit_out_of_range"


def test_the_merchants_own_endpoint_and_secret_drive_the_relay(
    emit: Emit, merchants: Merchants, make_relay: Callable[..., WebhookRelay], receiver: Receiver,
    notifications: Notifications,
) -> None:  # fmt: skip
    """Wired as the app wires it: the merchants slice says where and with which secret."""
    merchants.create(name="shop", merchant_id="mer_shop", webhook_url="https://shop.example/h")
    secret = merchants.set_webhook("mer_shop", "https://shop.example/h")
    [event_id] = emit(1, merchant_id="mer_shop")
    [no_hook] = emit(1, merchant_id="mer_plain")
    merchants.create(name="plain", merchant_id="mer_plain")
    receiver.secret = secret

    make_relay(endpoints=merchants.webhook_endpoint).run_once()

    assert receiver.hits == Counter({event_id: 1})
    assert receiver.bad_signatures == 0
    assert notifications.get_event(event_id, merchant_id=None).delivery.status is (
        DeliveryStatus.DELIVERED
    )
    assert notifications.get_event(no_hook, merchant_id=None).delivery.status is (
        DeliveryStatus.SKIPPED
    )
