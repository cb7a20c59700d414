"""The bank's pure rules: its failure mix, its decisions, refunds, fees, config."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.sandbox_bank import model
from paycore.sandbox_bank import request_fields as fields
from paycore.sandbox_bank.config import BankConfig, FaultMix
from paycore.sandbox_bank.model import (
    Decider,
    Transport,
    Txn,
    TxnStatus,
    TxnType,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _payin(amount_minor: int = 10_000, status: TxnStatus = TxnStatus.SUCCEEDED) -> Txn:
    return Txn(
        bank_txn_no="BT1", merchant_id="paycore", type=TxnType.PAYIN, reference="pay_1",
        amount_minor=amount_minor, currency="CNY", status=status, created_at=T0,
    )  # fmt: skip


@pytest.mark.parametrize(
    "changes",
    [
        {"decline_rate": 1.5},
        {"timeout_delay_s": -1.0},
        {"unavailable_rate": 0.6, "timeout_rate": 0.6},
        {"decline_rate": 0.7, "unknown_rate": 0.7},
        {"hang_min_s": 5.0, "hang_max_s": 1.0},
        {"notify_attempts_max": 0},
        {"hang": 1},
        {"decline_rate": "a lot"},
        {"notify_attempts_max": 2.5},
        {"no_such_setting": 1},
    ],
)
def test_a_fault_mix_that_makes_no_sense_is_rejected_as_invalid_request(
    changes: dict[str, object],
) -> None:
    with pytest.raises(Rejected) as refused:
        FaultMix().updated(changes)

    assert refused.value.code == "invalid_request"


def test_updating_a_fault_mix_keeps_the_settings_not_named() -> None:
    mix = FaultMix(decline_rate=0.2).updated({"hang": True, "timeout_rate": 0.1})

    assert (mix.decline_rate, mix.hang, mix.timeout_rate) == (0.2, True, 0.1)


def test_the_same_seed_draws_the_same_sequence_of_outcomes() -> None:
    mix = FaultMix(decline_rate=0.3, unknown_rate=0.2, timeout_rate=0.2, unavailable_rate=0.1)

    def draws(seed: int) -> list[object]:
        decider = Decider(seed)
        return [(decider.transport(mix), decider.outcome(mix, TxnType.PAYIN)) for _ in range(50)]

    assert draws(11) == draws(11)
    assert draws(11) != draws(12)


def test_transport_faults_come_in_the_configured_proportions() -> None:
    mix = FaultMix(unavailable_rate=0.1, error_after_rate=0.2, timeout_rate=0.3)
    decider = Decider(3)
    counts = {t: 0 for t in Transport}
    for _ in range(10_000):
        counts[decider.transport(mix)] += 1

    assert counts[Transport.UNAVAILABLE] == pytest.approx(1_000, abs=150)
    assert counts[Transport.ERROR_AFTER] == pytest.approx(2_000, abs=200)
    assert counts[Transport.SLOW] == pytest.approx(3_000, abs=250)
    assert counts[Transport.NORMAL] == pytest.approx(4_000, abs=250)


@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        (TxnType.PAYIN, set(model.PAYIN_USER_DECLINES)),
        (TxnType.PAYOUT, set(model.PAYOUT_USER_DECLINES)),
    ],
)
def test_user_declines_use_the_reason_codes_of_their_kind_of_transaction(
    kind: TxnType, codes: set[str]
) -> None:
    decider = Decider(5)
    seen = {decider.outcome(FaultMix(decline_rate=1.0), kind).failure_code for _ in range(200)}

    assert seen == codes


def test_a_refund_is_never_declined_by_a_payer() -> None:
    decider = Decider(5)
    mix = FaultMix(decline_rate=1.0)

    outcomes = {decider.outcome(mix, TxnType.REFUND).status for _ in range(100)}

    assert outcomes == {TxnStatus.SUCCEEDED}


def test_merchant_errors_are_answered_at_once_and_never_notified() -> None:
    decision = Decider(1).outcome(FaultMix(invalid_request_rate=1.0), TxnType.PAYIN)

    assert decision == model.Decision(TxnStatus.FAILED, "invalid_request", True, True)


def test_unknown_results_are_asynchronous_and_silent() -> None:
    decision = Decider(1).outcome(FaultMix(unknown_rate=1.0, sync_rate=1.0), TxnType.PAYIN)

    assert (decision.status, decision.synchronous, decision.silent) == (
        TxnStatus.SUCCEEDED, False, True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("payin", "amount", "currency", "reserved", "refusal"),
    [
        (None, 1, "CNY", 0, "payin_not_found"),
        (_payin(amount_minor=0, status=TxnStatus.CLOSED), 1, "CNY", 0, "payin_not_found"),
        (_payin(), 1, "USD", 0, "invalid_request"),
        (_payin(status=TxnStatus.PROCESSING), 1, "CNY", 0, "payin_not_refundable"),
        (_payin(), 10_001, "CNY", 0, "refund_exceeds_refundable"),
        (_payin(), 4_001, "CNY", 6_000, "refund_exceeds_refundable"),
        (_payin(), 4_000, "CNY", 6_000, ""),
    ],
)
def test_a_refund_is_refused_with_the_first_reason_that_applies(
    payin: Txn | None, amount: int, currency: str, reserved: int, refusal: str
) -> None:
    assert model.refund_refusal(payin, amount, currency, reserved) == refusal


@given(st.lists(st.integers(min_value=1, max_value=5_000), max_size=30))
def test_accepted_refunds_never_add_up_to_more_than_the_pay_in(amounts: list[int]) -> None:
    payin = _payin(amount_minor=10_000)
    reserved = 0
    for amount in amounts:
        if not model.refund_refusal(payin, amount, "CNY", reserved):
            reserved += amount

    assert reserved <= payin.amount_minor
    assert model.refundable_minor(payin, reserved) == payin.amount_minor - reserved


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [(10_000, 60, 60), (1, 60, 0), (84, 60, 1), (83, 60, 0), (10_000, 0, 0)],
)
def test_the_pay_in_fee_is_rounded_half_up(amount: int, bps: int, fee: int) -> None:
    assert model.fee_for(_payin(amount_minor=amount), bps) == fee


def test_completing_a_transaction_applies_its_planned_result() -> None:
    processing = Txn(
        bank_txn_no="BT2", merchant_id="paycore", type=TxnType.PAYIN, reference="pay_2",
        amount_minor=100, currency="CNY", status=TxnStatus.PROCESSING, created_at=T0,
        planned_status=TxnStatus.FAILED, planned_failure_code="card_declined", completes_at=T0,
    )  # fmt: skip

    done = model.completed(processing, now=T0, fee_bps=100)

    assert (done.status, done.failure_code, done.finished_at, done.fee_minor) == (
        TxnStatus.FAILED, "card_declined", T0, 0,
    )  # fmt: skip
    assert done.planned_status is None and done.completes_at is None


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("6200000000000005", True)],
)
def test_card_numbers_are_checked_with_luhn(number: str, valid: bool) -> None:
    assert fields.luhn_valid(number) is valid


@pytest.mark.parametrize(
    "data",
    [
        {"reference": "", "amount_minor": 1, "currency": "CNY"},
        {"reference": "a b", "amount_minor": 1, "currency": "CNY"},
        {"reference": "x" * 65, "amount_minor": 1, "currency": "CNY"},
        {"reference": "p", "amount_minor": 0, "currency": "CNY"},
        {"reference": "p", "amount_minor": True, "currency": "CNY"},
        {"reference": "p", "amount_minor": 1.5, "currency": "CNY"},
        {"reference": "p", "amount_minor": 1, "currency": "XYZ"},
    ],
)
def test_malformed_references_and_amounts_are_invalid_requests(data: dict[str, object]) -> None:
    with pytest.raises(Rejected, match="invalid_request"):
        fields.reference_of(data)
        fields.money_of(data)


def test_a_card_is_kept_only_masked() -> None:
    hint, valid = fields.card_of({"card": {"number": "4111111111111111"}})

    assert (hint, valid) == ("411111******1111", True)


def test_the_config_is_read_from_the_data_dir_then_overridden(tmp_path: Path) -> None:
    saved = {"seed": 3, "fee_bps": 60, "faults": {"decline_rate": 0.1, "hang": True}}
    (tmp_path / "bank.json").write_text(json.dumps(saved))

    config = BankConfig.load(tmp_path, port=9999, seed=None, faults={"hang": False})

    assert (config.seed, config.fee_bps, config.port) == (3, 60, 9999)
    assert (config.faults.decline_rate, config.faults.hang) == (0.1, False)
    assert config.database_path == tmp_path / "bank.db"


def test_an_unknown_setting_in_the_config_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bank.json").write_text(json.dumps({"colour": "blue"}))

    with pytest.raises(Rejected, match="colour"):
        BankConfig.load(tmp_path)
