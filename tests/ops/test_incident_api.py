"""The incidents over HTTP: list with filters and pages, one with its timeline, review;
problems as problem+json with stable codes; admin keys only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from paycore.clock import ManualClock
from paycore.ops import api as incidents_api
from paycore.ops.incidents import Incidents
from paycore.runtime import Runtime
from paycore.security.model import Scope
from paycore.web.app import create_app
from tests.ops.conftest_incidents import (  # noqa: F401
    closed,
    incidents_fixture,
    signal,
    thresholds_fixture,
)


@pytest.fixture
def http(runtime: Runtime, admin_key: str, incidents: Incidents) -> Iterator[TestClient]:
    app = create_app(runtime=runtime)
    app.dependency_overrides[incidents_api.get_incidents] = lambda: incidents
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


def test_an_incident_is_listed_shown_with_its_timeline_and_reviewed(
    http: TestClient, incidents: Incidents, clock: ManualClock
) -> None:
    incident_id = closed(incidents, clock, "breaker:alpha")

    listed = http.get("/v1/ops/incidents", params={"awaiting_review": "true"}).json()
    assert [i["id"] for i in listed["data"]] == [incident_id]
    assert listed["data"][0]["grade"] is None and listed["data"][0]["awaiting_review"]

    reviewed = http.post(f"/v1/ops/incidents/{incident_id}/review",
                         json={"grade": "B", "cause": "bank outage", "by": "alice"})  # fmt: skip
    assert reviewed.status_code == 200
    body = reviewed.json()
    assert (body["status"], body["grade"], body["auto_grade"]) == ("reviewed", "B", "D")

    shown = http.get(f"/v1/ops/incidents/{incident_id}").json()
    assert [e["kind"] for e in shown["timeline"]] == ["opened", "closed", "graded", "reviewed"]
    assert shown["cause"] == "bank outage" and shown["reviewed_by"] == "alice"
    assert http.get("/v1/ops/incidents", params={"grade": "b"}).json()["data"][0]["id"] == (
        incident_id
    )


def test_the_list_pages_with_its_cursor(
    http: TestClient, incidents: Incidents, clock: ManualClock
) -> None:
    made = [closed(incidents, clock, f"breaker:{n}") for n in range(3)]
    first = http.get("/v1/ops/incidents", params={"limit": 2}).json()
    second = http.get(
        "/v1/ops/incidents", params={"limit": 2, "after": first["next_cursor"]}
    ).json()
    assert [i["id"] for i in first["data"] + second["data"]] == list(reversed(made))
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/v1/ops/incidents/inc_nope", None, 404, "incident_not_found"),
        ("post", "/v1/ops/incidents/inc_nope/review", {}, 404, "incident_not_found"),
        ("post", "/v1/ops/incidents/{id}/review", {"grade": "E"}, 422, "invalid_grade"),
        ("post", "/v1/ops/incidents/{id}/review", {"grade": "A", "mood": "x"}, 422,
         "unknown_field"),
        ("get", "/v1/ops/incidents?grade=Z", None, 422, "invalid_grade"),
        ("get", "/v1/ops/incidents?from=2026-01-01T00:00:00", None, 422, "invalid_period"),
    ],
)  # fmt: skip
def test_bad_requests_are_problems_with_stable_codes(
    http: TestClient,
    incidents: Incidents,
    clock: ManualClock,
    method: str,
    path: str,
    body: dict[str, str] | None,
    status: int,
    code: str,
) -> None:
    incident_id = closed(incidents, clock, "breaker:alpha")
    response = http.request(method.upper(), path.format(id=incident_id), json=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_an_open_incident_cannot_be_reviewed_over_http(
    http: TestClient, incidents: Incidents, clock: ManualClock
) -> None:
    incident_id = incidents.reconcile([signal(since=clock.now())]).opened[0]
    response = http.post(f"/v1/ops/incidents/{incident_id}/review", json={"grade": "A"})
    assert response.json()["code"] == "incident_still_open"


def test_keys_without_the_admin_scope_are_forbidden(runtime: Runtime, http: TestClient) -> None:
    _key, clear = runtime.api_keys.issue(merchant_id=None, scopes=[Scope.LEDGER_READ], label="t")
    response = http.get("/v1/ops/incidents", headers={"Authorization": f"Bearer {clear}"})
    assert response.status_code == 403
