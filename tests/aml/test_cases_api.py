"""`/v1/aml/cases` over HTTP: analysts (admin keys) only, problem+json codes, the STR.

The router is mounted here on the app (web/app.py mounts it once the lead wires it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore.aml.api import router
from paycore.aml.cases import Cases
from paycore.runtime import Runtime
from paycore.security.model import Scope
from paycore.web.app import create_app
from tests.aml.test_cases_fixtures import (  # noqa: F401
    alert,
    cases_fixture,
    cipher_fixture,
    empty_aml_tables_fixture,
    lookup_fixture,
)


@pytest.fixture
def http(runtime: Runtime, cases: Cases, admin_key: str) -> Iterator[TestClient]:
    app = create_app(runtime=runtime)
    app.include_router(router)
    app.state.aml_cases = cases
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client


@pytest.fixture
def case_id(cases: Cases) -> str:
    (opened,) = cases.open_cases([alert()], period="2026-11").opened
    return opened


def _post(http: TestClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    answer = http.post(path, json=body)
    assert answer.status_code == status, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_an_analyst_works_a_case_to_reported_over_http(http: TestClient, case_id: str) -> None:
    base = f"/v1/aml/cases/{case_id}"
    _post(http, f"{base}/assign", {"assignee": "analyst-7", "version": 1})
    _post(http, f"{base}/transitions", {"action": "investigate", "version": 2})
    _post(http, f"{base}/notes", {"note": "owner 王小明 evasive", "version": 3}, 201)
    draft = _post(http, f"{base}/str", {"conclusion": "a front", "version": 4}, 201)
    done = _post(http, f"{base}/transitions", {"action": "report", "version": 5})

    shown = http.get(base).json()
    listed = http.get("/v1/aml/cases", params={"status": "reported"}).json()
    as_json = http.get(f"{base}/str.json")
    as_md = http.get(f"{base}/str.md")

    assert (done["status"], done["version"], draft["draft_no"]) == ("reported", 6, 1)
    assert [e["action"] for e in shown["events"]] == [
        "open",
        "assign",
        "investigate",
        "note",
        "draft",
        "report",
    ]
    assert shown["events"][3]["note"] == "owner 王小明 evasive"
    assert [c["id"] for c in listed["data"]] == [case_id]
    assert as_json.json() == draft
    assert as_md.headers["content-type"].startswith("text/markdown")
    assert "## 可疑交易明细 Transactions" in as_md.text


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("transitions", {"action": "report", "version": 1}, 409, "case_transition_invalid"),
        ("transitions", {"action": "investigate", "version": 7}, 409, "case_version_conflict"),
        ("notes", {"note": "late", "version": 2}, 409, "case_version_conflict"),
        ("transitions", {"action": "reopen", "version": 1}, 422, "invalid_value"),
    ],
)
def test_refused_changes_answer_problem_json_with_a_stable_code(
    http: TestClient, case_id: str, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    answer = http.post(f"/v1/aml/cases/{case_id}/{path}", json=body)

    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.headers["content-type"] == "application/problem+json"


def test_an_unknown_case_and_a_missing_draft_are_problems(http: TestClient, case_id: str) -> None:
    unknown = http.get("/v1/aml/cases/amlc_nope")
    no_draft = http.get(f"/v1/aml/cases/{case_id}/str.md")

    assert (unknown.status_code, unknown.json()["code"]) == (404, "case_not_found")
    assert (no_draft.status_code, no_draft.json()["code"]) == (409, "case_str_missing")


def test_a_merchant_key_sees_no_aml_route_whether_or_not_a_case_exists(
    http: TestClient, runtime: Runtime, case_id: str
) -> None:
    merchant_row, _secret = runtime.merchants.create(name="Front", merchant_id="mch_front")
    _key, clear = runtime.api_keys.issue(merchant_id=merchant_row.id, scopes=None)
    merchant = {"Authorization": f"Bearer {clear}"}

    answers = [
        http.get("/v1/aml/cases", headers=merchant),
        http.get(f"/v1/aml/cases/{case_id}", headers=merchant),
        http.get("/v1/aml/cases/amlc_nope", headers=merchant),
        http.get(f"/v1/aml/cases/{case_id}/str.json", headers=merchant),
        http.post(
            f"/v1/aml/cases/{case_id}/notes", json={"note": "x", "version": 1}, headers=merchant
        ),
    ]

    assert {(a.status_code, a.json()["code"]) for a in answers} == {(403, "forbidden")}


def test_a_platform_key_without_admin_is_forbidden(http: TestClient, runtime: Runtime) -> None:
    _key, clear = runtime.api_keys.issue(merchant_id=None, scopes=[Scope.PAYMENTS_READ])

    answer = http.get("/v1/aml/cases", headers={"Authorization": f"Bearer {clear}"})

    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")


def test_cases_list_by_status_a_page_at_a_time(http: TestClient, cases: Cases) -> None:
    subjects = [f"mch_{n}" for n in range(3)]
    cases.open_cases([alert(subject=s) for s in subjects], period="2026-11")

    first = http.get("/v1/aml/cases", params={"status": "open", "limit": 2}).json()
    second = http.get("/v1/aml/cases", params={"after": first["next_after"], "limit": 2}).json()
    none = http.get("/v1/aml/cases", params={"status": "dismissed"}).json()
    bad = http.get("/v1/aml/cases", params={"status": "closed"})

    assert len(first["data"]) == 2 and len(second["data"]) == 1
    assert sorted(c["subject_id"] for c in first["data"] + second["data"]) == subjects
    assert none == {"data": [], "next_after": None}
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_value")
