"""The notification rules called directly, at their edges: which answers count as
delivered, the limits of an event at exactly their size and one past it, the retry
schedule's first and last step with a known jitter, every field each delivery step sets or
keeps, and the signature computed independently with hmac/hashlib."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from paycore.errors import Rejected
from paycore.notifications import model
from paycore.notifications.model import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    RetryPolicy,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STAMP = int(T0.timestamp())
POLICY = RetryPolicy()


def _attempt(status_code: int | None, error: str | None = "boom") -> Attempt:
    return Attempt("natt_1", "evt_1", T0, "https://x", status_code, error, 3)


@pytest.mark.parametrize(
    ("status_code", "succeeded"),
    [(None, False), (199, False), (200, True), (299, True), (300, False), (500, False)],
)
def test_only_a_2xx_answer_counts_as_delivered(status_code: int | None, succeeded: bool) -> None:
    assert _attempt(status_code).succeeded is succeeded


# -- events ---------------------------------------------------------------------------------


def _new(**changes: Any) -> tuple[Event, Delivery]:
    arguments: dict[str, Any] = {
        "event_id": "evt_1", "merchant_id": "mer_a", "type": "payin.succeeded",
        "object_id": "pay_1", "payload": {"amount": 100}, "now": T0,
    }  # fmt: skip
    return model.new_event(**{**arguments, **changes})


def _refused(**changes: Any) -> str:
    with pytest.raises(Rejected) as refused:
        _new(**changes)
    return refused.value.code


def test_a_new_event_keeps_its_fields_and_its_first_delivery_is_due_at_once() -> None:
    payload = {"amount": 100}

    event, delivery = _new(payload=payload)
    payload["amount"] = 1  # the event keeps its own copy

    assert event == Event("evt_1", "mer_a", "payin.succeeded", "pay_1", {"amount": 100}, T0)
    assert delivery == Delivery("evt_1", "mer_a", DeliveryStatus.PENDING, 0, next_attempt_at=T0)


@pytest.mark.parametrize(
    ("field", "code"), [("merchant_id", "merchant_id_invalid"), ("object_id", "object_id_invalid")]
)
def test_an_events_ids_are_one_to_sixty_four_characters(field: str, code: str) -> None:
    assert _new(**{field: "x"})[0] is not None
    assert _new(**{field: "x" * 64})[0] is not None
    assert _refused(**{field: ""}) == code
    assert _refused(**{field: "x" * 65}) == code


def test_an_event_type_is_at_most_sixty_four_characters() -> None:
    at_limit = "payin." + "x" * 58

    assert _new(type=at_limit)[0].type == at_limit
    assert _refused(type=at_limit + "x") == "event_type_invalid"


def test_a_payload_of_exactly_the_limit_in_compact_json_is_accepted_and_one_byte_more_is_not() -> (
    None
):
    overhead = len('{"n":1,"blob":""}')  # no spaces after "," or ":"
    blob = "x" * (model.PAYLOAD_BYTES_MAX - overhead)

    assert _new(payload={"n": 1, "blob": blob})[0].payload == {"n": 1, "blob": blob}
    assert _refused(payload={"n": 1, "blob": blob + "x"}) == "payload_too_large"


def test_a_payload_json_cannot_write_is_refused_as_not_json() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop

    with pytest.raises(Rejected) as refused:
        _new(payload=loop)

    assert refused.value.code == "payload_not_json"
    assert "Circular reference" in refused.value.detail  # json's own reason, passed on


def test_the_body_gives_the_creation_time_in_utc_whatever_the_servers_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    beijing = T0.astimezone(timezone(timedelta(hours=8)))
    event = Event("evt_1", "mer_a", "payin.succeeded", "pay_1", {}, beijing)
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        body = model.body_of(event)
    finally:
        monkeypatch.undo()
        time.tzset()

    assert b'"created_at":"2026-03-01T12:00:00Z"' in body


# -- retries --------------------------------------------------------------------------------


def test_the_default_schedule_tries_nine_times() -> None:
    assert POLICY.attempts_max == 9
    assert RetryPolicy(delays_s=(1, 2)).attempts_max == 3


@pytest.mark.parametrize(
    ("attempts", "u", "delay"),
    [
        (0, 0.5, None),
        (1, 0.0, 5.0),
        (1, 0.5, 5.5),
        (2, 0.5, 33.0),
        (8, 0.0, 28_800.0),
        (8, 0.5, 31_680.0),
        (9, 0.0, None),
    ],
)
def test_the_wait_after_each_failure_is_its_step_stretched_by_the_jitter(
    attempts: int, u: float, delay: float | None
) -> None:
    assert POLICY.delay_s(attempts, u) == pytest.approx(delay)


def test_the_jitter_is_the_policys_own() -> None:
    assert RetryPolicy(delays_s=(100,), jitter=0.5).delay_s(1, 0.5) == 125.0
    assert isinstance(RetryPolicy(delays_s=(100,)).delay_s(1, 0.0), float)


def _delivery(**changes: Any) -> Delivery:
    fields: dict[str, Any] = {
        "event_id": "evt_1", "merchant_id": "mer_a", "status": DeliveryStatus.PENDING,
        "attempts": 2, "next_attempt_at": T0, "leased_until": None,
        "last_status_code": 502, "last_error": "old", "delivered_at": None,
    }  # fmt: skip
    return Delivery(**{**fields, **changes})


def test_a_claimed_delivery_counts_the_attempt_and_is_leased_for_the_lease() -> None:
    assert model.claimed(_delivery(), now=T0, lease_s=90) == _delivery(
        attempts=3, leased_until=T0 + timedelta(seconds=90)
    )


def test_a_delivered_attempt_records_its_answer_and_ends_the_lease() -> None:
    later = T0 + timedelta(seconds=7)
    leased = _delivery(leased_until=later)

    done = model.settled(leased, _attempt(204, None), now=later, policy=POLICY, u=0.5)

    assert done == _delivery(
        status=DeliveryStatus.DELIVERED, next_attempt_at=None, last_status_code=204,
        last_error=None, delivered_at=later,
    )  # fmt: skip


def test_a_failed_attempt_is_retried_after_its_step_counted_from_the_attempts_end() -> None:
    later = T0 + timedelta(seconds=7)
    leased = _delivery(leased_until=later)

    retry = model.settled(leased, _attempt(None, "timeout"), now=later, policy=POLICY, u=0.5)

    assert retry == _delivery(
        next_attempt_at=later + timedelta(seconds=33), last_status_code=None,
        last_error="timeout",
    )  # fmt: skip


def test_a_failed_attempt_leaves_the_delivery_pending_whatever_status_it_was_read_with() -> None:
    # The rule sets the status itself rather than trusting the one it was handed.
    leased = _delivery(status=DeliveryStatus.FAILED, leased_until=T0)

    retry = model.settled(leased, _attempt(503), now=T0, policy=POLICY, u=0.0)

    assert retry.status is DeliveryStatus.PENDING
    assert retry.next_attempt_at == T0 + timedelta(seconds=30)


def test_the_last_failed_attempt_fails_the_delivery_for_good() -> None:
    leased = _delivery(attempts=9, leased_until=T0)

    done = model.settled(leased, _attempt(500), now=T0, policy=POLICY, u=0.5)

    assert done == _delivery(
        attempts=9, status=DeliveryStatus.FAILED, next_attempt_at=None, last_status_code=500,
        last_error="boom",
    )  # fmt: skip


def test_a_skipped_delivery_gives_back_its_attempt_and_says_why() -> None:
    leased = _delivery(attempts=3, leased_until=T0)

    assert model.skipped(leased) == _delivery(
        status=DeliveryStatus.SKIPPED, attempts=2, next_attempt_at=None,
        last_error="no_webhook_endpoint",
    )  # fmt: skip


def test_a_resend_keeps_the_lease_of_a_send_in_progress_and_its_last_answer() -> None:
    sending = _delivery(status=DeliveryStatus.DELIVERED, leased_until=T0, delivered_at=T0)
    later = T0 + timedelta(hours=1)

    assert model.rescheduled(sending, now=later) == _delivery(
        attempts=0, next_attempt_at=later, leased_until=T0
    )


# -- signatures -----------------------------------------------------------------------------


def test_the_signature_is_an_hmac_sha256_of_the_timestamp_a_dot_and_the_body() -> None:
    expected = hmac.new(b"whsec_1", b"1772366400.{}", hashlib.sha256).hexdigest()

    assert STAMP == 1772366400
    assert model.sign("whsec_1", timestamp=STAMP, body=b"{}") == f"t=1772366400,v1={expected}"


def _refusal(header: str, body: bytes | str = b"{}", **kwargs: Any) -> str | None:
    try:
        model.verify_signature("whsec_1", header, body, now=kwargs.pop("now", T0), **kwargs)
    except Rejected as refused:
        return refused.code
    return None


def test_a_header_with_spaces_after_its_commas_verifies() -> None:
    t, v1 = model.sign("whsec_1", timestamp=STAMP, body=b"{}").split(",")

    assert _refusal(f" {t} , {v1} ") is None


def test_the_first_of_several_signatures_is_enough_too() -> None:
    good = model.sign("whsec_1", timestamp=STAMP, body=b"{}")

    assert _refusal(f"{good},v1={'0' * 64}") is None
    assert _refusal(f"t={STAMP},v1={'0' * 64},v1={'1' * 64}") == "signature_mismatch"


def test_a_header_naming_another_key_or_an_empty_signature_is_malformed() -> None:
    good_mac = model.sign("whsec_1", timestamp=STAMP, body=b"{}").split(",")[1]

    assert _refusal(f"T={STAMP},{good_mac}") == "signature_malformed"
    assert _refusal(f"t={STAMP},v2={good_mac[3:]}") == "signature_malformed"
    assert _refusal(f"t={STAMP},v1=,{good_mac}") is None  # an empty v1 is skipped, not fatal


def test_only_the_first_equals_sign_splits_a_header_part() -> None:
    # "v1==ab" is a v1 signature "=ab" (which does not match), not a key "v1=".
    assert _refusal(f"t={STAMP},v1==ab") == "signature_mismatch"


@pytest.mark.parametrize(("skew_s", "code"), [(10, None), (-10, None), (11, "x"), (-11, "x")])
def test_a_receivers_own_tolerance_is_the_edge_of_its_replay_window(
    skew_s: int, code: str | None
) -> None:
    header = model.sign("whsec_1", timestamp=STAMP, body=b"{}")

    found = _refusal(header, now=T0 + timedelta(seconds=skew_s), tolerance_s=10)

    assert found == (code and "signature_timestamp_out_of_range")


def test_a_text_body_is_checked_as_its_utf8_bytes() -> None:
    header = model.sign("whsec_1", timestamp=STAMP, body='{"名":1}'.encode())

    assert _refusal(header, '{"名":1}') is None


@pytest.mark.parametrize(("length", "shown"), [(199, 199), (200, 200), (201, 200), (5_000, 200)])
def test_an_error_is_cut_to_two_hundred_characters_ending_in_an_ellipsis(
    length: int, shown: int
) -> None:
    text = "e" * length

    short = model.short_error(text)

    assert len(short) == shown
    assert short == text if length <= 200 else short == "e" * 199 + "…"
