"""The sandbox bank's pure rules called directly: how a transaction shows, completes and
comes back, its fee at the rounding boundary, and what is left to refund at its edge.
(The decider's draws are in test_model_decider_rules.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.sandbox_bank import model
from paycore.sandbox_bank.model import Decision, Txn, TxnStatus, TxnType

T0 = datetime(2026, 1, 1, 8, 30, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
SEED = 20260101


def _txn(**changes: object) -> Txn:
    fields: dict[str, object] = {
        "bank_txn_no": "BT1", "merchant_id": "paycore", "type": TxnType.PAYIN,
        "reference": "pay_1", "amount_minor": 10_000, "currency": "CNY",
        "status": TxnStatus.PROCESSING, "created_at": T0,
    }  # fmt: skip
    return Txn(**{**fields, **changes})  # type: ignore[arg-type]


# -- how a transaction shows ------------------------------------------------------------


def test_a_finished_refund_shows_every_field_the_api_documents() -> None:
    txn = _txn(
        type=TxnType.REFUND, payin_reference="pay_0", status=TxnStatus.RETURNED, fee_minor=7,
        failure_code="account_closed", failure_message="closed", finished_at=T1, returned_at=T1,
    )  # fmt: skip

    assert txn.view() == {
        "bank_txn_no": "BT1", "type": "refund", "reference": "pay_1", "payin_reference": "pay_0",
        "amount_minor": 10_000, "currency": "CNY", "fee_minor": 7, "status": "returned",
        "failure_code": "account_closed", "failure_message": "closed",
        "created_at": "2026-01-01T08:30:00+00:00", "finished_at": "2026-01-01T08:35:00+00:00",
        "returned_at": "2026-01-01T08:35:00+00:00",
    }  # fmt: skip


def test_a_processing_transaction_shows_what_it_lacks_as_null() -> None:
    view = _txn().view()

    assert {k: view[k] for k in view if view[k] is None} == dict.fromkeys(
        ("payin_reference", "failure_code", "failure_message", "finished_at", "returned_at")
    )


@pytest.mark.parametrize(
    ("amount", "currency", "payin_reference", "same"),
    [
        (10_000, "CNY", "pay_0", True),
        (10_001, "CNY", "pay_0", False),
        (10_000, "USD", "pay_0", False),
        (10_000, "CNY", "pay_9", False),
    ],
)
def test_a_repeated_request_is_the_same_only_with_the_same_amount_currency_and_pay_in(
    amount: int, currency: str, payin_reference: str, same: bool
) -> None:
    txn = _txn(payin_reference="pay_0")

    assert txn.same_request(amount, currency, payin_reference) is same


def test_a_request_without_a_pay_in_is_the_same_as_a_transaction_without_one() -> None:
    assert _txn().same_request(10_000, "CNY") is True
    assert _txn(payin_reference="pay_0").same_request(10_000, "CNY") is False


@pytest.mark.parametrize(
    ("kind", "amount", "marker"),
    [(TxnType.PAYIN, 0, True), (TxnType.PAYIN, 1, False), (TxnType.PAYOUT, 0, False)],
)
def test_only_a_pay_in_of_nothing_marks_a_pay_in_closed_before_it_arrived(
    kind: TxnType, amount: int, marker: bool
) -> None:
    assert _txn(type=kind, amount_minor=amount).is_close_marker is marker


# -- completing, returning, fees and refunds ------------------------------------------------


def test_a_transaction_with_nothing_planned_completes_as_paid_with_its_fee() -> None:
    txn = _txn(completes_at=T1, planned_failure_code="card_declined", silent=True)

    done = model.completed(txn, now=T1, fee_bps=100)

    assert done == _txn(status=TxnStatus.SUCCEEDED, fee_minor=100, finished_at=T1, silent=True)


def test_a_transaction_planned_to_fail_completes_with_its_code_and_the_banks_message() -> None:
    txn = _txn(planned_status=TxnStatus.FAILED, planned_failure_code="issuer_unavailable")

    done = model.completed(txn, now=T1, fee_bps=100)

    assert done == _txn(
        status=TxnStatus.FAILED, failure_code="issuer_unavailable",
        failure_message="the card issuer did not answer", finished_at=T1,
    )  # fmt: skip


def test_a_transaction_planned_to_close_completes_without_a_code_or_a_fee() -> None:
    txn = _txn(planned_status=TxnStatus.CLOSED, planned_failure_code="card_declined")

    done = model.completed(txn, now=T1, fee_bps=100)

    assert done == _txn(status=TxnStatus.CLOSED, finished_at=T1)


def test_a_returned_payout_is_notified_with_the_closed_account_as_its_reason() -> None:
    payout = _txn(
        type=TxnType.PAYOUT, status=TxnStatus.SUCCEEDED, silent=True, return_at=T1, finished_at=T0
    )

    back = model.returned(payout, now=T1)

    assert back == _txn(
        type=TxnType.PAYOUT, status=TxnStatus.RETURNED, finished_at=T0, returned_at=T1,
        failure_code="account_closed", failure_message="the beneficiary account is closed",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [(5_000, 1, 1), (4_999, 1, 0), (15_000, 1, 2), (10_000, 10_000, 10_000), (10_000, -5, 0)],
)
def test_the_pay_in_fee_rounds_half_up_at_exactly_one_half(amount: int, bps: int, fee: int) -> None:
    assert model.fee_for(_txn(amount_minor=amount), bps) == fee


@pytest.mark.parametrize("kind", [TxnType.PAYOUT, TxnType.REFUND])
def test_the_bank_takes_no_fee_on_payouts_and_refunds(kind: TxnType) -> None:
    assert model.fee_for(_txn(type=kind), 100) == 0


@given(amount=st.integers(min_value=0, max_value=10**12), bps=st.integers(0, 10_000))
def test_the_fee_is_the_nearest_whole_minor_unit_to_the_exact_share(amount: int, bps: int) -> None:
    fee = model.fee_for(_txn(amount_minor=amount), bps)

    # |fee - amount * bps / 10 000| <= 1/2, computed in integers.
    assert abs(fee * 10_000 - amount * bps) <= 5_000


@pytest.mark.parametrize(
    ("status", "reserved", "left"),
    [
        (TxnStatus.SUCCEEDED, 0, 10_000),
        (TxnStatus.SUCCEEDED, 9_999, 1),
        (TxnStatus.SUCCEEDED, 10_000, 0),
        (TxnStatus.SUCCEEDED, 10_001, 0),
        (TxnStatus.PROCESSING, 0, 0),
        (TxnStatus.RETURNED, 0, 0),
    ],
)
def test_only_a_paid_pay_in_has_anything_left_to_refund(
    status: TxnStatus, reserved: int, left: int
) -> None:
    assert model.refundable_minor(_txn(status=status), reserved) == left


def test_a_refund_of_exactly_what_is_left_goes_ahead_and_one_more_is_refused() -> None:
    payin = _txn(status=TxnStatus.SUCCEEDED)

    assert model.refund_refusal(payin, 2_500, "CNY", 7_500) == ""
    assert model.refund_refusal(payin, 2_501, "CNY", 7_500) == "refund_exceeds_refundable"


def test_a_refused_request_is_answered_at_once_recorded_as_failed_and_never_notified() -> None:
    assert model.refusal("payin_expired") == Decision(
        TxnStatus.FAILED, "payin_expired", synchronous=True, silent=True, complete_after_s=0.0
    )
