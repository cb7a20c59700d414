"""What every HTTP response carries: a request id, and problem documents that name it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from paycore.runtime import Runtime
from paycore.web.app import create_app


def test_a_request_id_given_by_the_caller_is_echoed_and_named_in_the_problem(
    client: TestClient,
) -> None:
    response = client.get("/v1/accounts/acct_missing", headers={"X-Request-ID": "trace-42"})

    assert response.status_code == 404
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["instance"] == "urn:paycore:request:trace-42"


@pytest.mark.parametrize("given", [None, "", "x" * 129, "has spaces", "semi;colon"])
def test_a_missing_or_unusable_request_id_is_replaced_by_a_new_one(
    client: TestClient, given: str | None
) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    response = client.get("/healthz", headers=headers)

    assert response.headers["x-request-id"].startswith("req_")


def test_an_unexpected_failure_is_a_500_problem_without_internals(
    runtime: Runtime, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_account_id: str) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(runtime.ledger, "get_account", broken)
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        headers = {"X-Request-ID": "r1", "Authorization": f"Bearer {admin_key}"}
        response = client.get("/v1/accounts/acct_a", headers=headers)

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "internal_error" and body["instance"] == "urn:paycore:request:r1"
    assert "hunter2" not in response.text
