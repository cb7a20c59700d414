"""The sandbox bank adapter: paycore's Channel protocol against a running sandbox bank."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from paycore.channels import signing
from paycore.channels.model import (
    BadNotification,
    BankAccount,
    ChannelResult,
    ChannelStatus,
    ChannelTimeout,
    ChannelUnavailable,
    FailureClass,
    Operation,
    PayoutRequest,
    RefundRequest,
)
from paycore.channels.sandbox import REASON_CLASSES, SandboxChannel, load_sandbox_channel
from paycore.ids import new_id
from paycore.sandbox_bank.model import PAYIN_USER_DECLINES, PAYOUT_USER_DECLINES
from tests.sandbox_bank.harness import BankUnderTest, bank_under_test, payin_request


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankUnderTest]:
    with bank_under_test(tmp_path_factory.mktemp("bank")) as bank:
        yield bank


@pytest.fixture(scope="module")
def channel(bank: BankUnderTest) -> Iterator[SandboxChannel]:
    with bank.channel() as channel:
        yield channel


@pytest.fixture(autouse=True)
def _fast_faults(bank: BankUnderTest) -> None:
    bank.set_faults()
    bank.receiver.refusing = False


def _payout(bank: BankUnderTest, account_number: str = "6222020200001234") -> PayoutRequest:
    return PayoutRequest(
        reference=new_id("po"), amount_minor=5_000, currency="CNY",
        beneficiary=BankAccount(account_number=account_number, name="Han Meimei"),
        description="deposit back", notify_url=bank.receiver.url,
    )  # fmt: skip


def _refund(bank: BankUnderTest, payin: str, amount_minor: int, txn: str | None) -> RefundRequest:
    return RefundRequest(
        reference=new_id("rf"), payin_reference=payin, payin_channel_txn_id=txn,
        amount_minor=amount_minor, currency="CNY", notify_url=bank.receiver.url,
    )  # fmt: skip


def _settled(channel: SandboxChannel, operation: Operation, reference: str) -> ChannelResult:
    deadline = time.monotonic() + 3
    while True:
        result = channel.query(operation, reference)
        if result.status is not ChannelStatus.PROCESSING or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


def _notifications(bank: BankUnderTest, channel: SandboxChannel, reference: str) -> list[object]:
    found = []
    for callback in bank.receiver.accepted():
        if json.loads(callback.body)["reference"] == reference:
            found.append(channel.parse_notification(callback.headers, callback.body))
    return found


# -- pay-ins ------------------------------------------------------------------------------


def test_a_pay_in_is_accepted_then_its_signed_notification_says_it_succeeded(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    request = payin_request(bank.receiver)

    accepted = channel.pay_in(request)
    bank.receiver.wait_for(lambda _: bool(_notifications(bank, channel, request.reference)))
    (notification,) = _notifications(bank, channel, request.reference)

    assert accepted.status is ChannelStatus.PROCESSING
    assert notification.operation is Operation.PAYIN  # type: ignore[attr-defined]
    assert notification.result.status is ChannelStatus.SUCCEEDED  # type: ignore[attr-defined]
    assert notification.result.channel_txn_id == accepted.channel_txn_id  # type: ignore[attr-defined]
    assert _settled(channel, Operation.PAYIN, request.reference).status is ChannelStatus.SUCCEEDED


def test_sending_the_same_pay_in_twice_creates_one_bank_transaction(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    request = payin_request(bank.receiver)

    first = channel.pay_in(request)
    second = channel.pay_in(request)

    assert first.channel_txn_id == second.channel_txn_id
    assert [t["reference"] for t in bank.transactions()].count(request.reference) == 1


def test_references_with_url_reserved_characters_are_sent_and_queried_intact(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    reference = f"pay:{new_id('x')}.a-b"
    missing = channel.query(Operation.PAYIN, f"{reference}.never")

    accepted = channel.pay_in(payin_request(bank.receiver, reference=reference))

    assert missing.status is ChannelStatus.NOT_FOUND
    assert _settled(channel, Operation.PAYIN, reference).channel_txn_id == accepted.channel_txn_id


@pytest.mark.parametrize(
    ("faults", "codes", "failure_class"),
    [
        ({"decline_rate": 1.0}, set(PAYIN_USER_DECLINES), FailureClass.USER),
        ({"invalid_request_rate": 1.0}, {"invalid_request"}, FailureClass.MERCHANT),
        ({"channel_decline_rate": 1.0}, {"issuer_unavailable"}, FailureClass.CHANNEL),
    ],
)
def test_a_declined_pay_in_carries_the_banks_reason_and_who_caused_it(
    bank: BankUnderTest,
    channel: SandboxChannel,
    faults: dict[str, float],
    codes: set[str],
    failure_class: FailureClass,
) -> None:
    bank.set_faults(sync_rate=1.0, **faults)

    results = [channel.pay_in(payin_request(bank.receiver)) for _ in range(12)]

    assert {r.status for r in results} == {ChannelStatus.FAILED}
    assert {r.failure_code for r in results} <= codes
    assert {r.failure_class for r in results} == {failure_class}


def test_an_asynchronous_decline_arrives_classified_in_its_notification(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(decline_rate=1.0)
    request = payin_request(bank.receiver)
    channel.pay_in(request)
    bank.receiver.wait_for(lambda _: bool(_notifications(bank, channel, request.reference)))

    (notification,) = _notifications(bank, channel, request.reference)
    result = notification.result  # type: ignore[attr-defined]
    assert (result.status, result.failure_class) == (ChannelStatus.FAILED, FailureClass.USER)
    assert result.failure_code in PAYIN_USER_DECLINES


def test_a_card_number_failing_the_luhn_check_is_declined_as_invalid_card(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    result = channel.pay_in(payin_request(bank.receiver, card_number="4111111111111112"))

    assert (result.status, result.failure_code, result.failure_class) == (
        ChannelStatus.FAILED, "invalid_card", FailureClass.USER,
    )  # fmt: skip


def test_a_malformed_pay_in_is_a_merchant_failure(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    result = channel.pay_in(payin_request(bank.receiver, card_number="12ab"))

    assert (result.status, result.failure_code, result.failure_class) == (
        ChannelStatus.FAILED, "invalid_request", FailureClass.MERCHANT,
    )  # fmt: skip


def test_every_reason_code_the_bank_uses_has_a_failure_class() -> None:
    from paycore.sandbox_bank import model

    codes = {*PAYIN_USER_DECLINES, *PAYOUT_USER_DECLINES, *model.CHANNEL_DECLINES.values()}
    codes |= {model.INVALID_REQUEST, model.REFERENCE_CONFLICT, model.PAYIN_NOT_FOUND,
              model.PAYIN_NOT_REFUNDABLE, model.REFUND_EXCEEDS_REFUNDABLE, model.PAYIN_EXPIRED,
              model.RETURN_REASON}  # fmt: skip

    assert codes <= set(REASON_CLASSES)


# -- system errors ----------------------------------------------------------------------------


def test_a_503_is_channel_unavailable_and_the_bank_never_saw_the_pay_in(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(unavailable_rate=1.0)
    request = payin_request(bank.receiver)

    with pytest.raises(ChannelUnavailable):
        channel.pay_in(request)
    bank.set_faults()

    assert channel.query(Operation.PAYIN, request.reference).status is ChannelStatus.NOT_FOUND


def test_a_refused_connection_is_channel_unavailable(tmp_path: Path, bank: BankUnderTest) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with load_sandbox_channel("down", f"http://127.0.0.1:{closed_port}", bank.data_dir) as down:
        with pytest.raises(ChannelUnavailable):
            down.pay_in(payin_request(bank.receiver))
        with pytest.raises(ChannelUnavailable):
            down.probe()


def test_a_timeout_is_channel_timeout_and_a_query_later_shows_the_real_result(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(timeout_rate=1.0, sync_rate=1.0, decline_rate=1.0)
    request = payin_request(bank.receiver)

    with pytest.raises(ChannelTimeout):
        channel.pay_in(request)
    bank.set_faults()
    result = _settled(channel, Operation.PAYIN, request.reference)

    assert (result.status, result.failure_class) == (ChannelStatus.FAILED, FailureClass.USER)


def test_a_500_after_recording_is_channel_timeout_and_the_pay_in_exists(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(error_after_rate=1.0)
    request = payin_request(bank.receiver)

    with pytest.raises(ChannelTimeout):
        channel.pay_in(request)
    bank.set_faults()

    assert _settled(channel, Operation.PAYIN, request.reference).status is ChannelStatus.SUCCEEDED


def test_an_unknown_result_stays_processing_until_queried(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(unknown_rate=1.0)
    request = payin_request(bank.receiver)

    accepted = channel.pay_in(request)
    settled = _settled(channel, Operation.PAYIN, request.reference)
    time.sleep(0.1)

    assert accepted.status is ChannelStatus.PROCESSING
    assert settled.status is ChannelStatus.SUCCEEDED
    assert _notifications(bank, channel, request.reference) == []


def test_a_hanging_bank_times_out_every_call_until_it_recovers(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(hang=True)

    with pytest.raises(ChannelTimeout):
        channel.probe()
    with pytest.raises(ChannelTimeout):
        channel.query(Operation.PAYIN, "pay_whatever")
    bank.set_faults(hang=False)

    channel.probe()


# Transport faults (reset, drop, partial answers, gateway errors): see
# test_sandbox_transport_faults.py


# -- the bank's signatures --------------------------------------------------------------------


def test_a_channel_holding_another_bank_key_refuses_the_banks_answers(
    bank: BankUnderTest,
) -> None:
    merchant_key = signing.load_private_key(bank.data_dir / "merchant_private.pem")
    wrong_bank_key = signing.generate_private_key().public_key()
    with (
        SandboxChannel("sandbox", bank.base_url, "paycore", merchant_key, wrong_bank_key, 0.3) as c,
        pytest.raises(ChannelTimeout, match="unverifiable"),
    ):
        c.pay_in(payin_request(bank.receiver))


def test_a_merchant_the_bank_does_not_know_is_refused_as_unavailable(
    bank: BankUnderTest,
) -> None:
    stranger = signing.generate_private_key()
    c = SandboxChannel("s", bank.base_url, "paycore", stranger, bank.bank_public_key(), 1.0)
    with c, pytest.raises(ChannelUnavailable, match="bad_signature"):
        c.pay_in(payin_request(bank.receiver))


# -- notifications ------------------------------------------------------------------------------


def _signed_callback(body: bytes, key: object, timestamp: int | None = None) -> dict[str, str]:
    return signing.sign(
        key, key_id="sandbox-bank", verb=signing.CALLBACK_VERB, path="", body=body,  # type: ignore[arg-type]
        timestamp=timestamp,
    )  # fmt: skip


CALLBACK = json.dumps({
    "notification_id": "ntf_BT1_succeeded", "type": "payin", "reference": "pay_1",
    "bank_txn_no": "BT1", "status": "succeeded", "finished_at": "2026-01-01T00:00:00+00:00",
}).encode()  # fmt: skip


def test_a_callback_signed_by_the_bank_is_parsed(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank_key = signing.load_private_key(bank.data_dir / "bank_private.pem")

    notification = channel.parse_notification(_signed_callback(CALLBACK, bank_key), CALLBACK)

    assert (notification.notification_id, notification.reference) == ("ntf_BT1_succeeded", "pay_1")
    assert notification.result.finished_at == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("forge", "code"),
    [
        ("tampered", "bad_signature"),
        ("other_key", "bad_signature"),
        ("unsigned", "bad_signature"),
        ("stale", "stale_notification"),
        ("not_json", "malformed_notification"),
        ("missing_fields", "malformed_notification"),
        ("unknown_status", "malformed_notification"),
        ("deep", "malformed_notification"),
        ("duplicate_status", "malformed_notification"),
    ],
)
def test_a_forged_stale_or_malformed_callback_is_a_bad_notification(
    bank: BankUnderTest, channel: SandboxChannel, forge: str, code: str
) -> None:
    bank_key = signing.load_private_key(bank.data_dir / "bank_private.pem")
    body = {
        "not_json": b"{oops",
        "missing_fields": b'{"notification_id": "n"}',
        "unknown_status": CALLBACK.replace(b'"succeeded"', b'"maybe"'),
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "duplicate_status": CALLBACK.replace(b"}", b', "status": "failed"}'),
    }.get(forge, CALLBACK)
    key = signing.generate_private_key() if forge == "other_key" else bank_key
    stale = int(time.time()) - signing.REPLAY_WINDOW_S - 10 if forge == "stale" else None
    headers = {} if forge == "unsigned" else _signed_callback(body, key, stale)
    if forge == "tampered":
        body = body.replace(b'"succeeded"', b'"failed"')

    with pytest.raises(BadNotification) as refused:
        channel.parse_notification(headers, body)

    assert (refused.value.code, refused.value.channel) == (code, "sandbox")


# -- refunds, close, payouts, statements ------------------------------------------------------


def _paid(bank: BankUnderTest, channel: SandboxChannel, amount_minor: int) -> ChannelResult:
    bank.set_faults(sync_rate=1.0)
    request = payin_request(bank.receiver, amount_minor=amount_minor)
    result = channel.pay_in(request)
    assert result.status is ChannelStatus.SUCCEEDED
    return ChannelResult(result.status, result.channel_txn_id, failure_message=request.reference)


def test_refunds_are_partial_repeated_and_never_above_what_was_paid(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    paid = _paid(bank, channel, 10_000)
    payin, txn = paid.failure_message, paid.channel_txn_id

    first = channel.refund(_refund(bank, payin, 6_000, txn))
    too_much = channel.refund(_refund(bank, payin, 4_001, txn))
    rest = channel.refund(_refund(bank, payin, 4_000, None))
    nothing_left = channel.refund(_refund(bank, payin, 1, txn))

    assert first.status is rest.status is ChannelStatus.SUCCEEDED
    for refused in (too_much, nothing_left):
        assert (refused.status, refused.failure_code, refused.failure_class) == (
            ChannelStatus.FAILED, "refund_exceeds_refundable", FailureClass.MERCHANT,
        )  # fmt: skip


def test_concurrent_refunds_never_add_up_to_more_than_the_pay_in(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    paid = _paid(bank, channel, 10_000)
    results: list[ChannelResult] = []
    lock = threading.Lock()

    def refund() -> None:
        result = channel.refund(_refund(bank, paid.failure_message, 3_000, paid.channel_txn_id))
        with lock:
            results.append(result)

    threads = [threading.Thread(target=refund) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    accepted = [r for r in results if r.status is ChannelStatus.SUCCEEDED]
    assert len(results) == 8 and len(accepted) == 3


def test_a_refund_of_an_unpaid_or_unknown_pay_in_is_refused(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(complete_min_s=60.0, complete_max_s=60.0)
    request = payin_request(bank.receiver)
    channel.pay_in(request)

    unpaid = channel.refund(_refund(bank, request.reference, 1, None))
    unknown = channel.refund(_refund(bank, "pay_never_sent", 1, None))

    assert (unpaid.failure_code, unknown.failure_code) == (
        "payin_not_refundable", "payin_not_found",
    )  # fmt: skip
    assert unpaid.failure_class is unknown.failure_class is FailureClass.MERCHANT


def test_closing_an_unpaid_pay_in_means_it_can_never_be_paid(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(complete_min_s=60.0, complete_max_s=60.0)
    request = payin_request(bank.receiver)
    channel.pay_in(request)

    closed = channel.close(request.reference)
    bank.admin.post("/admin/advance", json={"seconds": 61})  # when it would have been paid
    time.sleep(0.2)

    assert closed.status is ChannelStatus.CLOSED
    assert channel.query(Operation.PAYIN, request.reference).status is ChannelStatus.CLOSED
    assert _notifications(bank, channel, request.reference) == []


def test_closing_a_paid_pay_in_answers_that_it_was_paid(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    paid = _paid(bank, channel, 100)

    assert channel.close(paid.failure_message).status is ChannelStatus.SUCCEEDED


def test_a_pay_in_closed_before_it_arrived_is_answered_closed(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    request = payin_request(bank.receiver)

    closed = channel.close(request.reference)
    late = channel.pay_in(request)

    assert closed.status is late.status is ChannelStatus.CLOSED


@pytest.mark.parametrize("account_number", ["6222020200001234"])
def test_a_payout_declined_by_the_beneficiary_bank_is_a_user_failure(
    bank: BankUnderTest, channel: SandboxChannel, account_number: str
) -> None:
    bank.set_faults(sync_rate=1.0, decline_rate=1.0)

    results = [channel.pay_out(_payout(bank, account_number)) for _ in range(8)]

    assert {r.failure_code for r in results} <= set(PAYOUT_USER_DECLINES)
    assert {r.failure_class for r in results} == {FailureClass.USER}


def test_a_paid_payout_can_come_back_later_as_returned(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(sync_rate=1.0, payout_return_rate=1.0, return_delay_s=86_400.0)
    request = _payout(bank)

    paid = channel.pay_out(request)
    before = channel.query(Operation.PAYOUT, request.reference)
    bank.admin.post("/admin/returns/trigger")
    bank.receiver.wait_for(lambda _: len(_notifications(bank, channel, request.reference)) >= 2)

    statuses = [n.result.status for n in _notifications(bank, channel, request.reference)]  # type: ignore[attr-defined]
    returned = channel.query(Operation.PAYOUT, request.reference)
    assert paid.status is before.status is ChannelStatus.SUCCEEDED
    assert sorted(statuses) == [ChannelStatus.RETURNED, ChannelStatus.SUCCEEDED]
    assert (returned.status, returned.failure_class) == (ChannelStatus.RETURNED, FailureClass.USER)
    assert returned.finished_at is not None and returned.finished_at > paid.finished_at  # type: ignore[operator]


def test_the_return_of_a_payout_whose_success_was_never_notified_is_notified(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    bank.set_faults(
        unknown_rate=1.0, complete_min_s=0.0, complete_max_s=0.0,
        payout_return_rate=1.0, return_delay_s=86_400.0,
    )  # fmt: skip
    request = _payout(bank)
    channel.pay_out(request)
    deadline = time.monotonic() + 5
    while channel.query(Operation.PAYOUT, request.reference).status is not ChannelStatus.SUCCEEDED:
        assert time.monotonic() < deadline, "the payout never completed"
        time.sleep(0.05)

    bank.admin.post("/admin/returns/trigger")
    bank.receiver.wait_for(lambda _: len(_notifications(bank, channel, request.reference)) >= 1)
    time.sleep(0.2)

    statuses = [n.result.status for n in _notifications(bank, channel, request.reference)]  # type: ignore[attr-defined]
    assert statuses == [ChannelStatus.RETURNED]


def test_the_statement_lists_the_days_paid_pay_ins(
    bank: BankUnderTest, channel: SandboxChannel
) -> None:
    paid = _paid(bank, channel, 12_345)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()

    lines = channel.fetch_statement(today).decode().splitlines()

    assert lines[0].startswith("Txn Date,Bank Txn No,Merchant Ref,Type,Amount,Fee")
    assert (
        f"{today},{paid.channel_txn_id},{paid.failure_message},PAYIN,123.45,0.00,CNY,SUCCESS"
        in (",".join(line.split(",")[:8]) for line in lines)
    )
    assert lines[-2].startswith("Total Count,Currency")
