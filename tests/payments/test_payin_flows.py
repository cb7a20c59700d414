"""Pay-ins through scripted channels: success, declines, failover, unknown results, callbacks."""

from __future__ import annotations

import pytest

from paycore.channels.model import ChannelTimeout, ChannelUnavailable, FailureClass, Payer
from paycore.errors import Rejected
from paycore.payments.model import PROBE_MERCHANT_ID, OrderKind
from paycore.payments.service import PayinCommand
from tests.payments.conftest import FEES, World
from tests.payments.fakes import SECRET, callback_body, declined, succeeded

CARD = "6228480402564890018"


def payin(amount: int = 10_000, merchant: str = "m1", **extra: object) -> PayinCommand:
    fields: dict[str, object] = {
        "merchant_id": merchant,
        "product": "rent",
        "amount": amount,
        "currency": "CNY",
        "payer": Payer(
            card_number=CARD, name="张三", id_number="110101199003070011", phone="13812345678"
        ),
        "description": "November rent",
    }
    fields.update(extra)
    return PayinCommand(**fields)  # type: ignore[arg-type]


def callback(world: World, order_id: str, status: str, nid: str = "n1", **extra: str) -> None:
    body = callback_body(
        notification_id=nid, operation="payin", reference=order_id, status=status, **extra
    )
    world.payments.handle_callback(channel="alpha", headers={"x-fake-signature": SECRET}, body=body)


def test_a_payin_accepted_by_the_channel_is_processing_until_its_callback_credits_the_merchant(
    world: World,
) -> None:
    created = world.payments.create_payin(payin(), idempotency_key="k1")

    assert created.status_code == 201
    assert created.body["status"] == "processing"
    assert world.wallet("m1") == (0, 0)
    callback(world, created.body["id"], "succeeded")

    order = world.payments.get(merchant_id="m1", order_id=created.body["id"])
    assert order.status == "succeeded"
    # 1% fee: 100.00 CNY pays the merchant 99.00 and the platform 1.00.
    assert world.wallet("m1") == (9_900, 9_900)
    assert world.ledger.check().ok


def test_a_duplicated_success_callback_credits_the_merchant_once(world: World) -> None:
    created = world.payments.create_payin(payin(), idempotency_key="k1")
    for nid in ("n1", "n1", "n2"):
        callback(world, created.body["id"], "succeeded", nid=nid)

    assert world.wallet("m1") == (9_900, 9_900)


def test_a_synchronous_success_credits_at_once(world: World) -> None:
    world.alpha.then(succeeded())
    created = world.payments.create_payin(payin(merchant="m2"), idempotency_key="k1")

    assert created.body["status"] == "succeeded"
    assert world.wallet("m2") == (10_000, 10_000)


def test_a_declined_payin_fails_with_the_payers_failure_class_and_moves_no_money(
    world: World,
) -> None:
    world.alpha.then(declined("insufficient_funds", FailureClass.USER))
    created = world.payments.create_payin(payin(), idempotency_key="k1")

    assert created.body["status"] == "failed"
    assert created.body["failure"] == {
        "class": "user",
        "code": "insufficient_funds",
        "message": "",
    }
    assert world.wallet("m1") == (0, 0)


def test_an_unavailable_channel_fails_over_to_the_next_one(world: World) -> None:
    world.alpha.then(ChannelUnavailable("alpha", "503"))
    world.beta.then(succeeded())
    created = world.payments.create_payin(payin(), idempotency_key="k1")

    assert created.body["status"] == "succeeded"
    assert created.body["channel"] == "beta"
    attempts = world.payments.attempts(created.body["id"])
    assert [(a["channel"], a["status"], a["failure_class"]) for a in attempts] == [
        ("alpha", "unavailable", "channel"),
        ("beta", "succeeded", None),
    ]


def test_a_timeout_leaves_the_result_unknown_and_never_tries_another_channel(
    world: World,
) -> None:
    world.alpha.then(ChannelTimeout("alpha", "read timeout"))
    created = world.payments.create_payin(payin(), idempotency_key="k1")

    assert created.body["status"] == "processing"
    assert created.body["result_unknown"] is True
    assert world.beta.calls == []


def test_the_janitor_resolves_an_unknown_result_by_querying_the_channel(world: World) -> None:
    world.alpha.then(ChannelTimeout("alpha", "read timeout"))
    created = world.payments.create_payin(payin(), idempotency_key="k1")
    world.alpha.truth[created.body["id"]] = succeeded()

    assert world.janitor.sweep().queried == 0  # not due yet
    world.clock.advance(61)
    report = world.janitor.sweep()

    assert (report.queried, report.resolved) == (1, 1)
    order = world.payments.get(merchant_id="m1", order_id=created.body["id"])
    assert (order.status, order.result_unknown) == ("succeeded", False)
    assert world.wallet("m1") == (9_900, 9_900)


def test_a_request_that_never_reached_the_channel_fails_as_not_received(world: World) -> None:
    world.alpha.then(ChannelTimeout("alpha", "connect timeout"))
    created = world.payments.create_payin(payin(), idempotency_key="k1")
    world.alpha.truth.pop(created.body["id"], None)
    world.clock.advance(61)
    world.janitor.sweep()

    order = world.payments.get(merchant_id="m1", order_id=created.body["id"])
    assert order.status == "failed"
    assert order.failure is not None and order.failure.code == "not_received"


def test_an_unpaid_payin_is_closed_at_its_expiry(world: World) -> None:
    created = world.payments.create_payin(payin(expires_in_s=120), idempotency_key="k1")
    world.clock.advance(61)
    world.janitor.sweep()  # still processing at the bank
    world.clock.advance(60)
    world.janitor.sweep()

    order = world.payments.get(merchant_id="m1", order_id=created.body["id"])
    assert order.status == "closed"
    assert ("close", created.body["id"]) in world.alpha.calls
    assert world.janitor.unresolved() == (0, 0.0)


def test_a_callback_after_close_cannot_credit_a_closed_payin(world: World) -> None:
    created = world.payments.create_payin(payin(), idempotency_key="k1")
    world.payments.close_payin(merchant_id="m1", payin_id=created.body["id"])
    callback(world, created.body["id"], "succeeded")

    assert world.payments.get(merchant_id="m1", order_id=created.body["id"]).status == "closed"
    assert world.wallet("m1") == (0, 0)


def test_a_callback_with_a_bad_signature_changes_nothing(world: World) -> None:
    created = world.payments.create_payin(payin(), idempotency_key="k1")
    body = callback_body(
        notification_id="n1", operation="payin", reference=created.body["id"], status="succeeded"
    )
    with pytest.raises(Rejected) as refused:
        world.payments.handle_callback(
            channel="alpha", headers={"x-fake-signature": "x"}, body=body
        )

    assert refused.value.code == "bad_signature"
    assert world.payments.get(merchant_id="m1", order_id=created.body["id"]).status == "processing"


def test_a_replayed_request_returns_the_original_answer_without_a_second_order(
    world: World,
) -> None:
    first = world.payments.create_payin(payin(), idempotency_key="same")
    again = world.payments.create_payin(payin(), idempotency_key="same")

    assert again.replayed and again.body == first.body
    assert len(world.payments.list_orders(merchant_id="m1", kind=OrderKind.PAYIN)) == 1
    assert len(world.alpha.calls) == 1


def test_the_same_key_with_a_different_body_is_a_conflict(world: World) -> None:
    world.payments.create_payin(payin(), idempotency_key="same")
    with pytest.raises(Rejected) as refused:
        world.payments.create_payin(payin(amount=10_001), idempotency_key="same")

    assert refused.value.code == "idempotency_key_reused"


def test_personal_data_is_stored_encrypted_and_shown_masked(world: World) -> None:
    created = world.payments.create_payin(payin(), idempotency_key="k1")
    order = world.payments.get(merchant_id="m1", order_id=created.body["id"])

    assert created.body["payer"]["card_number"] == "622848*********0018"
    assert created.body["payer"]["phone"] == "138****5678"
    assert CARD not in str(order.party_enc)
    assert world.payments.reveal_party(order)["card_number"] == CARD


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"merchant": "m_unknown"}, "merchant_not_active"),
        ({"amount": 0}, "amount_must_be_positive"),
        ({"amount": 10**11 + 1}, "amount_too_large"),
        ({"currency": "XXY"}, "unknown_currency"),
        ({"product": "Rent!"}, "invalid_product"),
        ({"expires_in_s": 5}, "invalid_expiry"),
    ],
)
def test_a_payin_with_bad_input_is_refused_and_records_nothing(
    world: World, change: dict[str, object], code: str
) -> None:
    args = {"amount": 10_000, "merchant": "m1"}
    args.update({k: v for k, v in change.items() if k in args})
    extra = {k: v for k, v in change.items() if k not in args}
    with pytest.raises(Rejected) as refused:
        world.payments.create_payin(
            payin(int(args["amount"]), str(args["merchant"]), **extra), idempotency_key="k1"
        )

    assert refused.value.code == code
    assert world.payments.list_orders(merchant_id=None, kind=OrderKind.PAYIN) == []
    assert world.alpha.calls == []


def test_another_merchant_cannot_see_the_order(world: World) -> None:
    created = world.payments.create_payin(payin(), idempotency_key="k1")
    with pytest.raises(Rejected) as refused:
        world.payments.get(merchant_id="m2", order_id=created.body["id"])

    assert refused.value.code == "order_not_found"


def test_the_effective_success_rate_leaves_out_failures_the_payer_caused(world: World) -> None:
    world.alpha.then(
        succeeded(),
        succeeded(),
        declined("insufficient_funds", FailureClass.USER),
        declined("bank_system_error", FailureClass.CHANNEL),
        ChannelUnavailable("alpha", "503"),
    )
    world.beta.then(succeeded())
    for n in range(5):
        world.payments.create_payin(payin(), idempotency_key=f"k{n}")
    day = world.clock.now().date()

    rows = {r.channel: r for r in world.payments.success_rates(date_from=day, date_to=day)}

    alpha = rows["alpha"]
    assert (alpha.succeeded, alpha.failed_user, alpha.failed_channel) == (2, 1, 1)
    assert alpha.unavailable == 1
    assert alpha.raw_rate == 2 / 4
    assert alpha.effective_rate == 2 / 3
    assert rows["beta"].effective_rate == 1.0


def test_per_order_an_order_that_failed_over_and_succeeded_counts_once_as_a_success(
    world: World,
) -> None:
    world.alpha.then(
        succeeded(),
        declined("insufficient_funds", FailureClass.USER),
        declined("bank_system_error", FailureClass.CHANNEL),
        ChannelUnavailable("alpha", "503"),
        ChannelUnavailable("alpha", "503"),
    )
    world.beta.then(succeeded(), ChannelUnavailable("beta", "503"))
    for n in range(5):
        world.payments.create_payin(payin(), idempotency_key=f"k{n}")
    day = world.clock.now().date()

    [row] = world.payments.success_rates(date_from=day, date_to=day, per_order=True)

    assert row.channel == "*"
    # alpha ok, payer declined, alpha failed, failed over to beta ok, no channel took it.
    assert (row.succeeded, row.failed_user, row.failed_channel) == (2, 1, 2)
    assert row.effective_rate == 2 / 4
    assert row.raw_rate == 2 / 5


def test_success_rates_leave_out_the_probers_synthetic_pay_ins_unless_asked_for_by_name(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(FEES, PROBE_MERCHANT_ID, 0)
    world.alpha.then(succeeded(), declined("bank_system_error", FailureClass.CHANNEL))
    world.payments.create_payin(payin(), idempotency_key="shop")
    world.payments.create_payin(payin(merchant=PROBE_MERCHANT_ID), idempotency_key="probe")
    day = world.clock.now().date()

    [everyone] = world.payments.success_rates(date_from=day, date_to=day)
    [probes] = world.payments.success_rates(
        date_from=day, date_to=day, merchant_id=PROBE_MERCHANT_ID
    )

    assert (everyone.succeeded, everyone.failed_channel) == (1, 0)
    assert (probes.succeeded, probes.failed_channel) == (0, 1)
