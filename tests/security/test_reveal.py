"""Revealing clear personal data over HTTP: its own scope, a reason, one audit record each,
only the caller's own objects, and nothing revealed when the record cannot be written."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.merchants.service import Merchants
from paycore.payments.model import OrderKind
from paycore.security import store_audit
from paycore.security.crypto import FieldCipher
from paycore.security.model import Principal
from paycore.security.reveal import AuditLog, Reveals
from paycore.security.service import ApiKeys
from tests.security.conftest_audit import (  # noqa: F401
    ACCOUNT,
    CARD,
    ID_NUMBER,
    NAME,
    PHONE,
    REASON,
    add_order,
    audit_log,
    reveal_client,
    reveals,
    show_nowhere,
)


@pytest.fixture
def orders(
    engine: Engine, field_cipher: FieldCipher, clock: ManualClock, merchants: Merchants
) -> None:
    for merchant_id in ("mch_a", "mch_b"):
        merchants.create(name=merchant_id, merchant_id=merchant_id)
    add_order(engine, field_cipher, clock, order_id="pay_a1", merchant_id="mch_a")
    add_order(engine, field_cipher, clock, order_id="pay_b1", merchant_id="mch_b")
    add_order(
        engine, field_cipher, clock, order_id="po_a1", merchant_id="mch_a", kind=OrderKind.PAYOUT
    )


def _auth(api_keys: ApiKeys, merchant_id: str | None, *scopes: str) -> dict[str, str]:
    _key, clear = api_keys.issue(merchant_id=merchant_id, scopes=scopes or None)
    return {"Authorization": f"Bearer {clear}"}


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    show_nowhere(response.text)


def test_revealing_needs_the_pii_reveal_scope_which_admin_does_not_imply(
    reveal_client: TestClient,  # noqa: F811
    orders: None,
    api_keys: ApiKeys,
    audit_log: AuditLog,  # noqa: F811
) -> None:
    merchant_default = _auth(api_keys, "mch_a")
    body = {"reason": REASON}

    _problem(reveal_client.post("/v1/payins/pay_a1/reveal", json=body), 403, "forbidden")
    _problem(
        reveal_client.post("/v1/payins/pay_a1/reveal", json=body, headers=merchant_default),
        403,
        "forbidden",
    )
    assert audit_log.list() == []


def test_revealing_without_a_reason_of_10_to_500_characters_is_422(
    reveal_client: TestClient,  # noqa: F811
    orders: None,
    api_keys: ApiKeys,
    audit_log: AuditLog,  # noqa: F811
) -> None:
    revealer = _auth(api_keys, None, "pii:reveal")

    for body in ({}, {"reason": None}, {"reason": "because"}, {"reason": "x" * 501}):
        response = reveal_client.post("/v1/payins/pay_a1/reveal", json=body, headers=revealer)
        _problem(response, 422, "reveal_reason_required")
    assert audit_log.list() == []


def test_a_reveal_returns_the_clear_values_and_appends_one_record(
    reveal_client: TestClient,  # noqa: F811
    orders: None,
    api_keys: ApiKeys,
    audit_log: AuditLog,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    key, clear = api_keys.issue(merchant_id=None, scopes=["pii:reveal", "admin"])
    revealer = {"Authorization": f"Bearer {clear}"}
    caplog.set_level(logging.DEBUG)

    response = reveal_client.post(
        "/v1/payins/pay_a1/reveal",
        json={"reason": REASON},
        headers={**revealer, "X-Request-ID": "req_reveal_1"},
    )

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "object_type": "payin",
        "object_id": "pay_a1",
        "fields": {"card_number": CARD, "name": NAME, "id_number": ID_NUMBER, "phone": PHONE},
        "audit_seq": 1,
    }
    [record] = audit_log.list()
    assert (record.entry.actor_key_id, record.entry.merchant_id) == (key.id, None)
    assert (record.entry.object_type, record.entry.object_id) == ("payin", "pay_a1")
    assert record.entry.fields == ("card_number", "id_number", "name", "phone")
    assert (record.entry.reason, record.entry.request_id) == (REASON, "req_reveal_1")
    assert audit_log.verify().broken is None
    show_nowhere(caplog.text)
    assert NAME not in caplog.text


def test_only_the_fields_asked_for_are_revealed_and_recorded(
    reveal_client: TestClient,  # noqa: F811
    orders: None,
    api_keys: ApiKeys,
    audit_log: AuditLog,  # noqa: F811
) -> None:
    revealer = _auth(api_keys, None, "pii:reveal")

    payout = reveal_client.post(
        "/v1/payouts/po_a1/reveal",
        json={"reason": REASON, "fields": ["account_number"]},
        headers=revealer,
    )
    generic = reveal_client.post(
        "/v1/pii/reveal",
        json={"object_type": "payin", "object_id": "pay_b1", "fields": ["phone"], "reason": REASON},
        headers=revealer,
    )

    assert payout.json()["fields"] == {"account_number": ACCOUNT}
    assert generic.json()["fields"] == {"phone": PHONE}
    assert [r.entry.fields for r in audit_log.list()] == [("account_number",), ("phone",)]


def test_a_merchant_key_reveals_only_its_own_objects_and_others_are_404(
    reveal_client: TestClient,  # noqa: F811
    orders: None,
    api_keys: ApiKeys,
    audit_log: AuditLog,  # noqa: F811
) -> None:
    revealer = _auth(api_keys, "mch_a", "pii:reveal")
    body = {"reason": REASON}

    own = reveal_client.post("/v1/payins/pay_a1/reveal", json=body, headers=revealer)
    other = reveal_client.post("/v1/payins/pay_b1/reveal", json=body, headers=revealer)
    missing = reveal_client.post("/v1/payins/pay_none/reveal", json=body, headers=revealer)
    wrong_kind = reveal_client.post("/v1/payouts/pay_a1/reveal", json=body, headers=revealer)

    assert own.json()["fields"]["card_number"] == CARD
    for response in (other, missing, wrong_kind):
        _problem(response, 404, "order_not_found")
    assert [(r.entry.object_id, r.entry.merchant_id) for r in audit_log.list()] == [
        ("pay_a1", "mch_a")
    ]


def test_an_unknown_object_type_or_field_is_refused(
    reveal_client: TestClient,  # noqa: F811
    orders: None,
    api_keys: ApiKeys,
) -> None:
    revealer = _auth(api_keys, None, "pii:reveal")
    refused: list[tuple[dict[str, Any], str]] = [
        ({"object_type": "merchant", "object_id": "mch_a"}, "reveal_object_type_unknown"),
        (
            {"object_type": "payin", "object_id": "pay_a1", "fields": ["cvv"]},
            "reveal_field_unknown",
        ),
        ({"object_type": "payin", "object_id": "pay_a1", "fields": []}, "reveal_field_unknown"),
    ]

    for body, code in refused:
        response = reveal_client.post(
            "/v1/pii/reveal", json={**body, "reason": REASON}, headers=revealer
        )
        _problem(response, 422, code)


def test_nothing_is_revealed_when_the_audit_record_cannot_be_written(
    reveals: Reveals,  # noqa: F811
    orders: None,
    audit_log: AuditLog,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise Rejected("audit_unavailable", "the audit log cannot be written")

    monkeypatch.setattr(store_audit, "append", refuse)
    principal = Principal(key_id="key_x", merchant_id=None, scopes=frozenset({"pii:reveal"}))

    with pytest.raises(Rejected, match="audit_unavailable"):
        reveals.reveal(
            principal,
            object_type="payin",
            object_id="pay_a1",
            fields=None,
            reason=REASON,
            request_id="req_1",
        )

    monkeypatch.undo()
    assert audit_log.list() == []
    assert audit_log.verify().head.seq == 0
