"""The bank's callbacks: signed, delayed, duplicated, reordered, retried, or never sent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from paycore.channels import signing
from tests.sandbox_bank.harness import BankUnderTest, bank_under_test, payin_body


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankUnderTest]:
    with bank_under_test(tmp_path_factory.mktemp("bank")) as bank:
        yield bank


@pytest.fixture(autouse=True)
def _fast_faults(bank: BankUnderTest) -> None:
    bank.set_faults()
    bank.receiver.refusing = False
    bank.receiver.refuse_next(0)


def _create(bank: BankUnderTest, reference: str) -> dict[str, object]:
    response = bank.signed_request("POST", "/v1/payins", payin_body(bank.receiver.url, reference))
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def _bodies_for(bank: BankUnderTest, reference: str, *, accepted_only: bool = True) -> list[bytes]:
    callbacks = bank.receiver.accepted() if accepted_only else bank.receiver.received
    return [c.body for c in callbacks if json.loads(c.body)["reference"] == reference]


def _wait_for(
    bank: BankUnderTest, reference: str, count: int, *, accepted_only: bool = True
) -> None:
    bank.receiver.wait_for(
        lambda _: len(_bodies_for(bank, reference, accepted_only=accepted_only)) >= count
    )


def test_an_asynchronous_result_is_notified_once_signed_by_the_bank(bank: BankUnderTest) -> None:
    created = _create(bank, "pay_n1")
    _wait_for(bank, "pay_n1", 1)
    time.sleep(0.1)

    (callback,) = [c for c in bank.receiver.received if b"pay_n1" in c.body]
    signed = signing.verify(
        bank.bank_public_key(), callback.headers, verb=signing.CALLBACK_VERB, path="",
        body=callback.body,
    )  # fmt: skip
    notification = json.loads(callback.body)
    assert signed.key_id == "sandbox-bank"
    assert created["status"] == "processing"
    assert notification["notification_id"] == f"ntf_{created['bank_txn_no']}_succeeded"
    assert (notification["type"], notification["status"]) == ("payin", "succeeded")


def test_a_synchronous_result_is_notified_as_well(bank: BankUnderTest) -> None:
    bank.set_faults(sync_rate=1.0, decline_rate=1.0)
    created = _create(bank, "pay_n2")
    _wait_for(bank, "pay_n2", 1)

    (body,) = _bodies_for(bank, "pay_n2")
    assert created["status"] == json.loads(body)["status"] == "failed"


def test_duplicated_notifications_repeat_their_notification_id(bank: BankUnderTest) -> None:
    bank.set_faults(duplicate_rate=1.0)
    _create(bank, "pay_n3")
    _wait_for(bank, "pay_n3", 2)

    ids = [json.loads(body)["notification_id"] for body in _bodies_for(bank, "pay_n3")]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_reordered_notifications_arrive_in_another_order_than_the_results(
    bank: BankUnderTest,
) -> None:
    bank.set_faults(sync_rate=1.0, reorder_rate=0.5, reorder_delay_s=0.2)
    references = [f"pay_order_{n:02d}" for n in range(20)]
    for reference in references:
        _create(bank, reference)
    bank.receiver.wait_for(lambda _: all(_bodies_for(bank, reference) for reference in references))

    arrived = [
        json.loads(c.body)["reference"]
        for c in bank.receiver.accepted()
        if json.loads(c.body)["reference"] in references
    ]
    assert sorted(arrived) == references
    assert arrived != references


def test_a_refused_notification_is_retried_until_the_receiver_accepts_it(
    bank: BankUnderTest,
) -> None:
    bank.receiver.refuse_next(2)
    _create(bank, "pay_n4")
    _wait_for(bank, "pay_n4", 1)

    attempts = [c for c in bank.receiver.received if b"pay_n4" in c.body]
    assert [c.answered for c in attempts] == [503, 503, 200]
    assert len({json.loads(c.body)["notification_id"] for c in attempts}) == 1
    # every retry is signed afresh, so none is stale or a replayed nonce
    assert len({c.headers["x-nonce"] for c in attempts}) == 3


def test_a_notification_is_given_up_after_its_last_attempt(bank: BankUnderTest) -> None:
    bank.set_faults(notify_attempts_max=3)
    bank.receiver.refusing = True
    created = _create(bank, "pay_n5")
    _wait_for(bank, "pay_n5", 3, accepted_only=False)
    time.sleep(0.5)

    assert len(_bodies_for(bank, "pay_n5", accepted_only=False)) == 3
    log = bank.admin.get("/admin/notifications").json()["attempts"]
    mine = [a for a in log if str(created["bank_txn_no"]) in a["notification_id"]]
    assert [(a["attempt"], a["outcome"]) for a in mine] == [
        (1, "http 503"), (2, "http 503"), (3, "http 503"),
    ]  # fmt: skip


def test_an_unknown_result_is_never_notified_and_only_a_query_tells_it(
    bank: BankUnderTest,
) -> None:
    bank.set_faults(unknown_rate=1.0)
    created = _create(bank, "pay_n6")
    time.sleep(0.3)

    queried = bank.signed_request("GET", "/v1/payins/pay_n6").json()
    assert created["status"] == "processing"
    assert queried["status"] == "succeeded"
    assert _bodies_for(bank, "pay_n6", accepted_only=False) == []
