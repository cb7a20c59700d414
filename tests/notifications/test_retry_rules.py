"""The delivery rules: when a failed webhook is retried, when it gives up, what resend does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.notifications.model import (
    PAYLOAD_BYTES_MAX,
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    RetryPolicy,
    body_of,
    claimed,
    new_event,
    rescheduled,
    settled,
    skipped,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy()


def attempt(status_code: int | None, at: datetime) -> Attempt:
    error = None if status_code and 200 <= status_code < 300 else "boom"
    return Attempt("natt_1", "evt_1", at, "https://x", status_code, error, 3)


def fresh() -> Delivery:
    return new_event(
        event_id="evt_1", merchant_id="mer_a", type="payin.succeeded", object_id="pay_1",
        payload={}, now=T0,
    )[1]  # fmt: skip


@given(attempts=st.integers(1, len(POLICY.delays_s)), u=st.floats(0, 1, exclude_max=True))
def test_a_retry_is_never_earlier_than_the_schedule_nor_later_than_its_jitter(
    attempts: int, u: float
) -> None:
    delay = POLICY.delay_s(attempts, u)

    base = POLICY.delays_s[attempts - 1]
    assert delay is not None
    assert base <= delay <= base * (1 + POLICY.jitter)


def test_the_default_schedule_gives_up_within_a_day_even_with_the_most_jitter() -> None:
    waited_s = sum(POLICY.delays_s) * (1 + POLICY.jitter)

    assert waited_s < 24 * 3600
    assert list(POLICY.delays_s[:5]) == [5, 30, 120, 600, 3600]


@given(
    codes=st.lists(st.sampled_from([None, 400, 404, 500, 503, 302]), max_size=12),
    u=st.floats(0, 1, exclude_max=True),
)
def test_failures_retry_until_the_attempts_run_out_and_then_fail(
    codes: list[int | None], u: float
) -> None:
    delivery, now = fresh(), T0
    for n, code in enumerate(codes, start=1):
        if delivery.status is not DeliveryStatus.PENDING:
            break
        delivery = claimed(delivery, now=now, lease_s=60)
        delivery = settled(delivery, attempt(code, now), now=now, policy=POLICY, u=u)
        assert delivery.attempts == n
        assert delivery.leased_until is None
        if n < POLICY.attempts_max:
            assert delivery.status is DeliveryStatus.PENDING
            assert delivery.next_attempt_at is not None and delivery.next_attempt_at > now
            now = delivery.next_attempt_at
        else:
            assert delivery.status is DeliveryStatus.FAILED
            assert delivery.next_attempt_at is None


@pytest.mark.parametrize("code", [200, 201, 204, 299])
def test_any_2xx_answer_delivers(code: int) -> None:
    delivery = claimed(fresh(), now=T0, lease_s=60)

    done = settled(delivery, attempt(code, T0), now=T0, policy=POLICY, u=0.5)

    assert done.status is DeliveryStatus.DELIVERED
    assert done.delivered_at == T0
    assert done.last_status_code == code
    assert done.next_attempt_at is None


def test_a_merchant_without_an_endpoint_is_skipped_without_using_an_attempt() -> None:
    delivery = claimed(fresh(), now=T0, lease_s=60)

    done = skipped(delivery)

    assert done.status is DeliveryStatus.SKIPPED
    assert done.attempts == 0
    assert done.last_error == "no_webhook_endpoint"


@pytest.mark.parametrize("status", list(DeliveryStatus))
def test_a_resend_makes_any_delivery_due_now_with_a_fresh_budget(status: DeliveryStatus) -> None:
    later = T0 + timedelta(hours=30)
    delivery = Delivery("evt_1", "mer_a", status, 9, next_attempt_at=None, delivered_at=T0)

    again = rescheduled(delivery, now=later)

    assert again.status is DeliveryStatus.PENDING
    assert again.attempts == 0
    assert again.next_attempt_at == later
    assert again.delivered_at is None


def test_the_body_is_the_event_envelope_with_the_payload_as_data() -> None:
    event = Event("evt_1", "mer_a", "payin.succeeded", "pay_1", {"amount": 100, "名": "张"}, T0)

    expected = (
        '{"id":"evt_1","type":"payin.succeeded","created_at":"2026-03-01T12:00:00Z",'
        '"data":{"amount":100,"名":"张"}}'
    )
    assert body_of(event) == expected.encode()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"type": "PaymentSucceeded"}, "event_type_invalid"),
        ({"type": "payin"}, "event_type_invalid"),
        ({"type": "payin." + "x" * 64}, "event_type_invalid"),
        ({"merchant_id": ""}, "merchant_id_invalid"),
        ({"object_id": "x" * 65}, "object_id_invalid"),
        ({"payload": {"blob": "x" * PAYLOAD_BYTES_MAX}}, "payload_too_large"),
        ({"payload": {"when": T0}}, "payload_not_json"),
    ],
)
def test_an_event_a_receiver_could_not_use_is_refused(fields: dict[str, object], code: str) -> None:
    arguments: dict[str, object] = {
        "event_id": "evt_1", "merchant_id": "mer_a", "type": "payin.succeeded",
        "object_id": "pay_1", "payload": {}, "now": T0,
    }  # fmt: skip
    arguments.update(fields)

    with pytest.raises(Rejected) as refused:
        new_event(**arguments)  # type: ignore[arg-type]

    assert refused.value.code == code
