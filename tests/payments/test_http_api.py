"""The payments HTTP API end to end over scripted fake banks: pay-ins, callbacks,
idempotency, payouts, refunds, who may see what, success rates and metrics."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from paycore.channels.model import ChannelUnavailable, FailureClass
from paycore.payments.model import OrderKind
from paycore.runtime import Runtime
from tests.payments.fakes import SECRET, ScriptedChannel, declined, succeeded
from tests.payments.http_conftest import (
    CARD,
    Tenant,
    create_payin,
    new_tenant,
    notify,
    order_count,
    paid_payin,
    payin_body,
    payout_body,
    wallet,
)


@pytest.fixture
def shop_a(runtime: Runtime) -> Tenant:
    """A merchant with a 1% fee."""
    return new_tenant(runtime, "Shop A", fee_bps=100)


@pytest.fixture
def shop_b(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Shop B")


# -- pay-ins -----------------------------------------------------------------------------


def test_a_payin_created_with_a_merchant_key_is_201_and_shows_the_payer_masked(
    client: TestClient, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    answer = create_payin(client, shop_a)

    body = answer.json()
    assert answer.status_code == 201, answer.text
    assert body["object"] == "payin" and body["id"].startswith("pay_")
    assert body["merchant_id"] == shop_a.id
    assert (body["status"], body["channel"], body["amount"], body["fee_amount"]) == (
        "processing",
        "alpha",
        10_000,
        100,
    )
    card, phone = body["payer"]["card_number"], body["payer"]["phone"]
    assert card.startswith(CARD[:6]) and card.endswith(CARD[-4:]) and CARD[6:-4] not in card
    assert phone.startswith("138") and phone.endswith("5678") and "1234" not in phone
    assert CARD not in answer.text and CARD[6:-4] not in answer.text
    assert alpha.calls == [("payin", body["id"])]


def test_a_payin_read_back_has_its_attempts_and_never_the_full_card_number(
    client: TestClient, shop_a: Tenant
) -> None:
    order_id = create_payin(client, shop_a).json()["id"]

    answer = client.get(f"/v1/payins/{order_id}", headers=shop_a.auth)

    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == order_id
    [attempt] = body["attempts"]
    assert attempt["channel"] == "alpha"
    assert "merchant_id" not in attempt and "order_id" not in attempt
    assert CARD not in answer.text and CARD[6:-4] not in answer.text


def test_payins_are_listed_newest_first_in_pages_linked_by_next_cursor(
    client: TestClient, shop_a: Tenant
) -> None:
    created = {create_payin(client, shop_a).json()["id"] for _ in range(5)}

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2"} | ({"after": cursor} if cursor else {})
        page = client.get("/v1/payins", params=params, headers=shop_a.auth).json()
        seen += [order["id"] for order in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert set(seen) == created and len(seen) == 5
    assert seen == sorted(seen, reverse=True)
    assert pages == 3


def test_payins_can_be_listed_by_status(client: TestClient, shop_a: Tenant) -> None:
    paid = paid_payin(client, shop_a)
    create_payin(client, shop_a)

    page = client.get("/v1/payins", params={"status": "succeeded"}, headers=shop_a.auth).json()

    assert [order["id"] for order in page["data"]] == [paid]
    assert page["next_cursor"] is None


# -- idempotency -------------------------------------------------------------------------


def test_a_create_without_an_idempotency_key_is_400_and_records_nothing(
    client: TestClient, runtime: Runtime, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    answer = client.post("/v1/payins", json=payin_body(), headers=shop_a.auth)

    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "idempotency_key_missing"
    assert order_count(runtime) == 0 and alpha.calls == []


def test_a_replay_returns_the_same_body_marked_replayed_with_one_order_and_one_bank_call(
    client: TestClient, runtime: Runtime, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    first = create_payin(client, shop_a, "order-42")
    again = create_payin(client, shop_a, "order-42")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert order_count(runtime) == 1
    assert alpha.calls == [("payin", first.json()["id"])]


def test_the_same_idempotency_key_with_another_body_is_409_and_sends_nothing(
    client: TestClient, runtime: Runtime, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    create_payin(client, shop_a, "order-42", amount=10_000)

    answer = create_payin(client, shop_a, "order-42", amount=10_001)

    assert answer.status_code == 409
    assert answer.json()["code"] == "idempotency_key_reused"
    assert order_count(runtime) == 1 and len(alpha.calls) == 1


def test_idempotency_keys_belong_to_one_merchant_so_two_merchants_can_use_the_same(
    client: TestClient, shop_a: Tenant, shop_b: Tenant, alpha: ScriptedChannel
) -> None:
    of_a = create_payin(client, shop_a, "order-1")
    of_b = create_payin(client, shop_b, "order-1")

    assert (of_a.status_code, of_b.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in of_b.headers
    assert of_a.json()["id"] != of_b.json()["id"]
    assert of_b.json()["merchant_id"] == shop_b.id
    assert len(alpha.calls) == 2


# -- channel callbacks -------------------------------------------------------------------


def test_a_signed_success_callback_completes_the_payin_and_credits_the_wallet_net_of_fee(
    client: TestClient, shop_a: Tenant
) -> None:
    order_id = create_payin(client, shop_a).json()["id"]

    answer = notify(client, order_id)

    assert answer.status_code == 200 and answer.json() == {"received": True}
    order = client.get(f"/v1/payins/{order_id}", headers=shop_a.auth).json()
    assert order["status"] == "succeeded" and order["finished_at"] is not None
    assert wallet(client, shop_a) | {"account_id": None} == {
        "account_id": None,
        "currency": "CNY",
        "balance": 9_900,
        "held": 0,
        "available": 9_900,
    }


def test_a_duplicated_callback_is_acknowledged_and_credits_once(
    client: TestClient, shop_a: Tenant
) -> None:
    order_id = create_payin(client, shop_a).json()["id"]

    answers = [notify(client, order_id, notification_id="n-1") for _ in range(2)]
    answers.append(notify(client, order_id, notification_id="n-2"))

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert wallet(client, shop_a)["balance"] == 9_900


def test_a_callback_with_a_bad_signature_is_401_and_changes_nothing(
    client: TestClient, shop_a: Tenant
) -> None:
    order_id = create_payin(client, shop_a).json()["id"]

    answer = notify(client, order_id, signature="forged")

    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "bad_signature"
    assert client.get(f"/v1/payins/{order_id}", headers=shop_a.auth).json()["status"] == (
        "processing"
    )
    assert wallet(client, shop_a)["balance"] == 0


def test_a_malformed_callback_is_400(client: TestClient, shop_a: Tenant) -> None:
    create_payin(client, shop_a)

    answer = client.post(
        "/v1/channels/alpha/notifications",
        content=b'{"id": "n-1", "status": "succeeded"',
        headers={"x-fake-signature": SECRET},
    )

    assert answer.status_code == 400
    assert answer.json()["code"] == "malformed_notification"
    assert wallet(client, shop_a)["balance"] == 0


def test_a_callback_naming_the_wrong_operation_is_malformed_and_changes_nothing(
    client: TestClient, shop_a: Tenant
) -> None:
    order_id = create_payin(client, shop_a).json()["id"]

    answer = notify(client, order_id, operation="payout")

    assert answer.status_code == 400
    assert answer.json()["code"] == "malformed_notification"
    assert wallet(client, shop_a)["balance"] == 0


def test_a_callback_to_an_unknown_channel_is_404(client: TestClient, shop_a: Tenant) -> None:
    order_id = create_payin(client, shop_a).json()["id"]

    answer = notify(client, order_id, channel="gamma")

    assert answer.status_code == 404
    assert answer.json()["code"] == "channel_not_found"


def test_a_callback_for_an_unknown_order_or_one_on_another_channel_is_404(
    client: TestClient, shop_a: Tenant
) -> None:
    order_id = create_payin(client, shop_a).json()["id"]

    unknown = notify(client, "pay_00000000000000000000000000")
    elsewhere = notify(client, order_id, channel="beta")

    assert (unknown.status_code, elsewhere.status_code) == (404, 404)
    assert unknown.json()["code"] == elsewhere.json()["code"] == "order_not_found"
    assert wallet(client, shop_a)["balance"] == 0


def test_a_callback_needs_no_api_key(client: TestClient, shop_a: Tenant) -> None:
    order_id = create_payin(client, shop_a).json()["id"]
    client.headers.pop("Authorization")

    assert notify(client, order_id).status_code == 200


# -- payouts -----------------------------------------------------------------------------


def test_a_payout_above_the_available_balance_is_422_and_its_replay_is_the_same_problem(
    client: TestClient, runtime: Runtime, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    paid_payin(client, shop_a, amount=1_000)  # 990 after the fee
    calls = len(alpha.calls)

    first = client.post("/v1/payouts", json=payout_body(amount=991), headers=shop_a.headers("po-1"))
    again = client.post("/v1/payouts", json=payout_body(amount=991), headers=shop_a.headers("po-1"))

    assert (first.status_code, again.status_code) == (422, 422)
    assert first.headers["content-type"] == again.headers["content-type"]
    assert first.headers["content-type"] == "application/problem+json"
    for field in ("type", "title", "status", "code", "detail"):
        assert again.json()[field] == first.json()[field], field
    assert first.json()["code"] == "insufficient_balance"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(alpha.calls) == calls
    assert wallet(client, shop_a) | {"account_id": None} == {
        "account_id": None,
        "currency": "CNY",
        "balance": 990,
        "held": 0,
        "available": 990,
    }
    assert order_count(runtime, OrderKind.PAYOUT) == 1


def test_a_payout_without_any_wallet_is_refused_as_insufficient_balance(
    client: TestClient, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    answer = client.post("/v1/payouts", json=payout_body(), headers=shop_a.headers())

    assert answer.status_code == 422
    assert answer.json()["code"] == "insufficient_balance"
    assert alpha.calls == []


def test_a_funded_payout_is_201_processing_and_the_balance_shows_the_hold(
    client: TestClient, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    paid_payin(client, shop_a)

    answer = client.post("/v1/payouts", json=payout_body(amount=5_000), headers=shop_a.headers())

    body = answer.json()
    assert answer.status_code == 201, answer.text
    assert body["object"] == "payout" and body["status"] == "processing"
    assert body["beneficiary"]["account_number"] != "6217000010001234567"
    assert "6217000010001234567" not in answer.text
    assert alpha.calls[-1] == ("payout", body["id"])
    assert wallet(client, shop_a) | {"account_id": None} == {
        "account_id": None,
        "currency": "CNY",
        "balance": 9_900,
        "held": 5_000,
        "available": 4_900,
    }
    assert client.get(f"/v1/payouts/{body['id']}", headers=shop_a.auth).json()["status"] == (
        "processing"
    )


def test_a_payout_confirmed_by_callback_takes_the_held_money(
    client: TestClient, shop_a: Tenant
) -> None:
    paid_payin(client, shop_a)
    payout_id = client.post("/v1/payouts", json=payout_body(), headers=shop_a.headers()).json()[
        "id"
    ]

    assert notify(client, payout_id, operation="payout").status_code == 200

    assert wallet(client, shop_a)["balance"] == 4_900
    assert wallet(client, shop_a)["held"] == 0


# -- refunds -----------------------------------------------------------------------------


def test_refunds_can_be_partial_and_repeated_but_never_above_what_is_refundable(
    client: TestClient, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    payin_id = paid_payin(client, shop_a)
    url = f"/v1/payins/{payin_id}/refunds"

    first = client.post(url, json={"amount": 3_000}, headers=shop_a.headers())
    second = client.post(url, json={"amount": 3_000, "reason": "late"}, headers=shop_a.headers())
    calls = len(alpha.calls)
    too_much = client.post(url, json={"amount": 4_001}, headers=shop_a.headers())

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["object"] == "refund" and first.json()["payin_id"] == payin_id
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "refund_exceeds_refundable"
    assert len(alpha.calls) == calls
    listed = client.get(url, headers=shop_a.auth).json()["data"]
    assert {r["id"] for r in listed} == {first.json()["id"], second.json()["id"]}
    assert {r["amount"] for r in listed} == {3_000}
    payin = client.get(f"/v1/payins/{payin_id}", headers=shop_a.auth).json()
    assert payin["refunded_amount"] == 6_000
    refund = client.get(f"/v1/refunds/{first.json()['id']}", headers=shop_a.auth)
    assert refund.status_code == 200 and refund.json()["amount"] == 3_000


def test_a_refund_of_a_payin_not_yet_paid_is_refused(client: TestClient, shop_a: Tenant) -> None:
    payin_id = create_payin(client, shop_a).json()["id"]

    answer = client.post(
        f"/v1/payins/{payin_id}/refunds", json={"amount": 100}, headers=shop_a.headers()
    )

    assert answer.status_code == 422
    assert answer.json()["code"] == "payin_not_succeeded"


# -- who may do what ---------------------------------------------------------------------


def test_a_request_without_a_key_or_with_a_wrong_key_is_401(
    client: TestClient, runtime: Runtime, shop_a: Tenant
) -> None:
    client.headers.pop("Authorization")

    without = client.post("/v1/payins", json=payin_body(), headers={"Idempotency-Key": "k"})
    wrong = client.get("/v1/payins", headers={"Authorization": "Bearer " + shop_a.key[:-1] + "x"})

    assert (without.status_code, wrong.status_code) == (401, 401)
    assert without.json()["code"] == wrong.json()["code"] == "unauthenticated"
    assert without.headers["WWW-Authenticate"].startswith("Bearer")
    assert order_count(runtime) == 0


def test_a_read_only_key_can_read_but_cannot_create(
    client: TestClient, runtime: Runtime, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    _key, clear = runtime.api_keys.issue(merchant_id=shop_a.id, scopes=["payments:read"])
    reader = Tenant(shop_a.id, clear)
    payin_id = paid_payin(client, shop_a)
    calls = len(alpha.calls)

    answers = [
        create_payin(client, reader),
        client.post("/v1/payouts", json=payout_body(), headers=reader.headers()),
        client.post(f"/v1/payins/{payin_id}/refunds", json={"amount": 1}, headers=reader.headers()),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403]
    assert {a.json()["code"] for a in answers} == {"forbidden"}
    assert len(alpha.calls) == calls
    assert client.get(f"/v1/payins/{payin_id}", headers=reader.auth).status_code == 200


def test_another_merchant_sees_none_of_a_merchants_orders(
    client: TestClient, shop_a: Tenant, shop_b: Tenant
) -> None:
    payin_id = paid_payin(client, shop_a)
    payout_id = client.post("/v1/payouts", json=payout_body(), headers=shop_a.headers()).json()[
        "id"
    ]
    refund_id = client.post(
        f"/v1/payins/{payin_id}/refunds", json={"amount": 100}, headers=shop_a.headers()
    ).json()["id"]

    reads = [
        client.get(f"/v1/payins/{payin_id}", headers=shop_b.auth),
        client.get(f"/v1/payouts/{payout_id}", headers=shop_b.auth),
        client.get(f"/v1/refunds/{refund_id}", headers=shop_b.auth),
        client.get(f"/v1/payins/{payin_id}/refunds", headers=shop_b.auth),
        client.post(
            f"/v1/payins/{payin_id}/refunds", json={"amount": 100}, headers=shop_b.headers()
        ),
        client.post(f"/v1/payins/{payin_id}/close", headers=shop_b.auth),
    ]

    assert [r.status_code for r in reads] == [404] * 6
    assert {r.json()["code"] for r in reads} == {"order_not_found"}
    for path in ("/v1/payins", "/v1/payouts"):
        assert client.get(path, headers=shop_b.auth).json()["data"] == []
    assert client.get("/v1/balances", headers=shop_b.auth).json()["data"] == []
    payin = client.get(f"/v1/payins/{payin_id}", headers=shop_a.auth).json()
    assert payin["refunded_amount"] == 100


def test_an_order_of_one_kind_is_not_found_under_another_kinds_path(
    client: TestClient, shop_a: Tenant
) -> None:
    payin_id = create_payin(client, shop_a).json()["id"]

    assert client.get(f"/v1/payouts/{payin_id}", headers=shop_a.auth).status_code == 404
    assert client.get(f"/v1/refunds/{payin_id}", headers=shop_a.auth).status_code == 404


def test_a_platform_key_cannot_create_payments_but_reads_every_merchants_orders(
    client: TestClient, runtime: Runtime, shop_a: Tenant, shop_b: Tenant
) -> None:
    of_a = create_payin(client, shop_a).json()["id"]
    of_b = create_payin(client, shop_b).json()["id"]

    created = client.post("/v1/payins", json=payin_body(), headers={"Idempotency-Key": "k"})
    payout = client.post("/v1/payouts", json=payout_body(), headers={"Idempotency-Key": "k2"})

    assert (created.status_code, payout.status_code) == (403, 403)
    assert created.json()["code"] == payout.json()["code"] == "merchant_key_required"
    assert order_count(runtime) == 2
    assert client.get(f"/v1/payins/{of_a}").json()["merchant_id"] == shop_a.id
    assert client.get(f"/v1/payins/{of_b}").json()["merchant_id"] == shop_b.id
    assert {o["id"] for o in client.get("/v1/payins").json()["data"]} == {of_a, of_b}


def test_a_merchant_can_close_its_unpaid_payin(
    client: TestClient, shop_a: Tenant, alpha: ScriptedChannel
) -> None:
    payin_id = create_payin(client, shop_a).json()["id"]

    closed = client.post(f"/v1/payins/{payin_id}/close", headers=shop_a.auth)
    again = client.post(f"/v1/payins/{payin_id}/close", headers=shop_a.auth)

    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert alpha.calls[-1] == ("close", payin_id)
    assert again.status_code == 409 and again.json()["code"] == "order_already_final"


# -- success rates, metrics, channels ------------------------------------------------------


def test_success_rates_show_raw_and_effective_rates_and_a_merchant_only_its_own(
    client: TestClient, shop_a: Tenant, shop_b: Tenant, alpha: ScriptedChannel
) -> None:
    alpha.then(
        succeeded(),
        declined("insufficient_funds", FailureClass.USER),
        declined("issuer_down", FailureClass.CHANNEL),
        succeeded(),
    )
    for _ in range(3):
        create_payin(client, shop_a)
    create_payin(client, shop_b)
    dates = {"date_from": "2026-01-01", "date_to": "2026-01-01"}

    mine = client.get("/v1/stats/success-rates", params=dates, headers=shop_a.auth).json()
    everyone = client.get("/v1/stats/success-rates", params=dates).json()

    [row] = mine["data"]
    assert (row["day"], row["kind"], row["product"], row["channel"]) == (
        "2026-01-01",
        "payin",
        "rent",
        "alpha",
    )
    assert row["succeeded"] == 1
    assert row["failed"] == {"user": 1, "merchant": 0, "channel": 1, "system": 0}
    assert row["raw_rate"] == pytest.approx(1 / 3)
    assert row["effective_rate"] == pytest.approx(1 / 2)
    [total] = everyone["data"]
    assert total["succeeded"] == 2
    assert total["effective_rate"] == pytest.approx(2 / 3)


def test_success_rates_per_order_count_a_failed_over_order_once_under_channel_star(
    client: TestClient, shop_a: Tenant, alpha: ScriptedChannel, beta: ScriptedChannel
) -> None:
    alpha.then(ChannelUnavailable("alpha", "503"), succeeded())
    beta.then(succeeded())
    for _ in range(2):
        create_payin(client, shop_a)
    params = {"date_from": "2026-01-01", "date_to": "2026-01-01", "per": "order"}

    answer = client.get("/v1/stats/success-rates", params=params, headers=shop_a.auth)

    [row] = answer.json()["data"]
    assert (row["channel"], row["succeeded"], row["effective_rate"]) == ("*", 2, 1.0)
    bad = client.get(
        "/v1/stats/success-rates", params={**params, "per": "day"}, headers=shop_a.auth
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_value"


def test_success_rates_refuse_a_range_that_ends_before_it_starts(
    client: TestClient, shop_a: Tenant
) -> None:
    answer = client.get(
        "/v1/stats/success-rates",
        params={"date_from": "2026-01-02", "date_to": "2026-01-01"},
        headers=shop_a.auth,
    )

    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_date_range"


def test_metrics_expose_how_many_orders_wait_for_a_result(
    client: TestClient, shop_a: Tenant
) -> None:
    order_id = create_payin(client, shop_a).json()["id"]
    client.headers.pop("Authorization")

    waiting = client.get("/metrics")
    notify(client, order_id)
    resolved = client.get("/metrics")

    assert waiting.status_code == 200
    assert "paycore_unresolved_orders 1.0" in waiting.text
    assert "paycore_unresolved_orders 0.0" in resolved.text
    assert "paycore_unresolved_order_age_seconds" in resolved.text


def test_the_channel_list_is_for_platform_admins_only(client: TestClient, shop_a: Tenant) -> None:
    as_merchant = client.get("/v1/channels", headers=shop_a.auth)
    as_admin = client.get("/v1/channels")

    assert as_merchant.status_code == 403 and as_merchant.json()["code"] == "forbidden"
    assert as_admin.status_code == 200
    assert {c["channel"] for c in as_admin.json()["data"]} == {"alpha", "beta"}
