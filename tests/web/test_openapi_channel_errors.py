"""A channel that is down or silent escapes a route as 503 `channel_unavailable` or 504
`channel_timeout` (web/problems.on_channel_error). The document says so on the operations
whose service calls a channel without handling that itself (closing a pay-in), and only
there: creates fail over or answer `processing`, and reads never call a channel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paycore.channels.model import ChannelError, ChannelResult, ChannelTimeout, ChannelUnavailable
from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.web.app import create_app
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import Tenant, create_payin, new_tenant, scripted_runtime

CLOSE = "/v1/payins/{payin_id}/close"


class FailingToClose(ScriptedChannel):
    """A scripted bank whose next close raises the error set in `close_error`."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.close_error: ChannelError | None = None

    def close(self, reference: str) -> ChannelResult:
        if self.close_error is not None:
            self.calls.append(("close", reference))
            raise self.close_error
        return super().close(reference)


@pytest.fixture
def alpha() -> FailingToClose:
    return FailingToClose("alpha")


@pytest.fixture
def runtime(
    database_url: str,
    engine: Engine,
    clock: ManualClock,
    ledger: Ledger,
    field_cipher: FieldCipher,
    alpha: FailingToClose,
) -> Iterator[Runtime]:
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[alpha],
    )


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Shop")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ChannelUnavailable("alpha", "connection refused"), 503, "channel_unavailable"),
        (ChannelTimeout("alpha", "no answer"), 504, "channel_timeout"),
    ],
)
def test_a_channel_down_or_silent_while_closing_a_payin_is_the_documented_problem(
    client: TestClient,
    shop: Tenant,
    alpha: FailingToClose,
    document: dict[str, Any],
    error: ChannelError,
    status: int,
    code: str,
) -> None:
    payin_id = create_payin(client, shop).json()["id"]
    alpha.close_error = error

    answer = client.post(CLOSE.format(payin_id=payin_id), headers=shop.auth)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code and answer.json()["status"] == status
    assert alpha.calls[-1] == ("close", payin_id)
    documented = document["paths"][CLOSE]["post"]["responses"][str(status)]
    assert code in documented["description"]
    assert documented["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }


def test_the_payin_stays_open_after_a_failed_close_and_closes_once_the_channel_answers(
    client: TestClient, runtime: Runtime, shop: Tenant, alpha: FailingToClose
) -> None:
    payin_id = create_payin(client, shop).json()["id"]
    alpha.close_error = ChannelUnavailable("alpha", "connection refused")

    refused = client.post(CLOSE.format(payin_id=payin_id), headers=shop.auth)
    alpha.close_error = None
    closed = client.post(CLOSE.format(payin_id=payin_id), headers=shop.auth)

    assert refused.status_code == 503
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_only_operations_that_call_a_channel_unguarded_document_503_and_504(
    document: dict[str, Any],
) -> None:
    with_channel_errors = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if {"503", "504"} & set(operation.get("responses", {}))
        # A bill's query past its statement timeout is the other 503 (bills/admission.py).
        and "bills_query_timeout"
        not in operation["responses"].get("503", {}).get("description", "")
    }

    assert with_channel_errors == {("POST", CLOSE)}
    for path, method in [
        ("/v1/balances", "get"),
        ("/v1/payins", "post"),
        ("/v1/payouts", "post"),
        ("/v1/payins/{payin_id}/refunds", "post"),
        ("/v1/payins/{order_id}", "get"),
        ("/v1/channels/{channel}/notifications", "post"),
    ]:
        responses = document["paths"][path][method]["responses"]
        assert "503" not in responses and "504" not in responses, (method, path)
