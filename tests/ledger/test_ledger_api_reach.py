"""Over the ledger's API, who changes an account's status, and how another merchant's
accounts and holds answer: exactly like missing ones (issue 10)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.cli import app
from paycore.ledger.model import AccountOrigin
from paycore.ledger.service import Ledger
from paycore.payments import bookkeeping as books
from tests.ledger import reach
from tests.ledger.reach import (
    move,
    open_api_account,
    post,
    post_hold,
    results,
    void,
)
from tests.payments.http_conftest import (
    Tenant,
    paid_payin,
)

# The shared fixtures, found by pytest under these names.
alpha = reach.alpha
other = reach.other
runtime = reach.runtime
shop = reach.shop

# -- freezing and unfreezing ---------------------------------------------------------------------


def set_status(client: TestClient, account_id: str, status: str, auth: dict[str, str]) -> Any:
    return client.post(f"/v1/accounts/{account_id}/status", json={"status": status}, headers=auth)


def test_a_merchant_cannot_lift_the_platforms_freeze_of_its_wallet(
    client: TestClient, shop: Tenant
) -> None:
    paid_payin(client, shop)
    wallet_id = books.wallet_account(shop.id, "CNY")
    assert set_status(client, wallet_id, "frozen", {}).json()["status"] == "frozen"

    lifted = set_status(client, wallet_id, "active", shop.auth)
    closed = set_status(client, wallet_id, "closed", shop.auth)

    for answer in (lifted, closed):
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "account_owned_by_flow"
    assert client.get(f"/v1/accounts/{wallet_id}", headers=shop.auth).json()["status"] == "frozen"
    assert set_status(client, wallet_id, "active", {}).json()["status"] == "active"


def test_a_merchant_freezes_its_own_account_but_only_the_platform_unfreezes_it(
    client: TestClient, shop: Tenant
) -> None:
    open_api_account(client, "acct_mine", shop.auth)

    frozen = set_status(client, "acct_mine", "frozen", shop.auth)
    lifted = set_status(client, "acct_mine", "active", shop.auth)

    assert frozen.status_code == 200 and frozen.json()["status"] == "frozen"
    assert lifted.status_code == 403 and lifted.json()["code"] == "unfreeze_needs_platform_key"
    assert client.get("/v1/accounts/acct_mine").json()["status"] == "frozen"
    assert set_status(client, "acct_mine", "active", {}).json()["status"] == "active"


@pytest.mark.parametrize("status", ["frozen", "active", "closed"])
def test_no_key_changes_the_status_of_a_flows_system_account(
    client: TestClient, shop: Tenant, status: str
) -> None:
    paid_payin(client, shop)

    answer = set_status(client, books.fee_account("CNY"), status, {})

    assert answer.status_code == 403 and answer.json()["code"] == "account_owned_by_flow"
    assert client.get(f"/v1/accounts/{books.fee_account('CNY')}").json()["status"] == "active"


# -- another merchant's things answer like missing ones -------------------------------------------


def without_instance(response: Any) -> tuple[int, dict[str, Any]]:
    body = dict(response.json())
    body.pop("instance", None)
    return response.status_code, body


def test_another_merchants_hold_answers_exactly_like_an_unknown_hold(
    client: TestClient, shop: Tenant, other: Tenant
) -> None:
    open_api_account(client, "acct_theirs", other.auth)
    open_api_account(client, "acct_theirs2", other.auth)
    hold = move("tr_their_hold", "acct_theirs2", "acct_theirs", flags=["pending"])
    assert results(post(client, hold, auth=other.auth)) == ["created"]

    for action in (void, post_hold):
        name = action.__name__
        foreign = post(client, action(f"tr_{name}_1", "tr_their_hold"), auth=shop.auth)
        unknown = post(client, action(f"tr_{name}_2", "tr_no_such_hold"), auth=shop.auth)

        assert foreign.status_code == unknown.status_code == 200
        assert results(foreign) == results(unknown) == ["pending_transfer_not_found"]
        assert "acct_theirs" not in foreign.text


def test_another_merchants_account_answers_exactly_like_an_unknown_one_on_either_side(
    client: TestClient, shop: Tenant, other: Tenant
) -> None:
    open_api_account(client, "acct_mine", shop.auth)
    open_api_account(client, "acct_theirs", other.auth)

    out_of_theirs = post(client, move("tr_p1", "acct_theirs", "acct_mine"), auth=shop.auth)
    out_of_nothing = post(client, move("tr_p2", "acct_nope", "acct_mine"), auth=shop.auth)
    into_theirs = post(client, move("tr_p3", "acct_mine", "acct_theirs"), auth=shop.auth)
    into_nothing = post(client, move("tr_p4", "acct_mine", "acct_nope"), auth=shop.auth)

    assert results(out_of_theirs) == results(out_of_nothing) == ["debit_account_not_found"]
    assert results(into_theirs) == results(into_nothing) == ["credit_account_not_found"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/v1/accounts/{id}", None),
        ("get", "/v1/accounts/{id}/entries", None),
        ("get", "/v1/accounts/{id}/balance?at=2026-01-01T00:00:00Z", None),
        ("post", "/v1/accounts/{id}/status", {"status": "frozen"}),
    ],
)
def test_reads_and_status_of_another_merchants_account_answer_like_a_missing_one(
    client: TestClient, shop: Tenant, other: Tenant, method: str, path: str, body: Any
) -> None:
    open_api_account(client, "acct_theirs", other.auth)

    def ask(account_id: str) -> tuple[int, dict[str, Any]]:
        url = path.format(id=account_id)
        kwargs: dict[str, Any] = {"headers": shop.auth}
        if body is not None:
            kwargs["json"] = body
        status, answer = without_instance(getattr(client, method)(url, **kwargs))
        answer["detail"] = answer["detail"].replace(account_id, "X")
        return status, answer

    assert ask("acct_theirs") == ask("acct_unknown")
    assert ask("acct_theirs")[0] == 404


def test_the_cli_opens_api_accounts_and_none_under_a_flows_id(
    database_url: str, ledger: Ledger
) -> None:
    def paycore(*args: str) -> Any:
        return CliRunner().invoke(app, list(args), env={"PAYCORE_DATABASE_URL": database_url})

    opened = paycore("accounts", "create", "--currency", "CNY", "--id", "acct_ops")
    refused = paycore("accounts", "create", "--currency", "CNY", "--id", "acct_fee_CNY")

    assert opened.exit_code == 0, opened.output
    account = ledger.get_account("acct_ops")
    assert account is not None and account.origin is AccountOrigin.API
    assert refused.exit_code == 2 and "id_reserved" in refused.stderr
    assert ledger.get_account("acct_fee_CNY") is None


def test_another_merchants_transfer_answers_like_a_missing_one(
    client: TestClient, shop: Tenant, other: Tenant
) -> None:
    open_api_account(client, "acct_theirs", other.auth)
    open_api_account(client, "acct_theirs2", other.auth)
    assert results(post(client, move("tr_theirs", "acct_theirs", "acct_theirs2"))) == ["created"]

    def ask(transfer_id: str) -> tuple[int, dict[str, Any]]:
        status, answer = without_instance(
            client.get(f"/v1/transfers/{transfer_id}", headers=shop.auth)
        )
        answer["detail"] = answer["detail"].replace(transfer_id, "X")
        return status, answer

    assert ask("tr_theirs") == ask("tr_unknown")
    assert ask("tr_theirs")[0] == 404
