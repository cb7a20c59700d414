"""The daily reconciliation: a seeded day reconciles with 0 breaks; a deleted voucher line,
a voucher the finance system misses, knows of no more, or booked with another body, shows
as a named break, recorded on the day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pytest
from sqlalchemy import delete, update

from paycore.errors import Rejected
from paycore.finance import store
from paycore.finance.receiver_client import ReceiverError
from paycore.finance.service import Finance
from tests.finance.conftest import SEEDED_DAY, FakeReceiver, Shop, after_day


@pytest.fixture
def derived(seeded_day: Shop, finance: Finance, receiver: FakeReceiver) -> Finance:
    """The seeded day derived and every voucher booked by the finance system."""
    after_day(seeded_day.clock)
    finance.derive_due()
    receiver.book_all(finance, SEEDED_DAY)
    return finance


def _kinds(finance: Finance) -> list[tuple[str, str]]:
    found = finance.reconcile_day(SEEDED_DAY)
    return [(b["kind"], b.get("voucher_id", str(b.get("ledger_code", "")))) for b in found.breaks]


def test_a_seeded_day_reconciles_with_0_breaks_and_the_day_records_it(derived: Finance) -> None:
    assert derived.reconciliation(SEEDED_DAY).status == "pending"

    found = derived.reconcile_day(SEEDED_DAY)

    assert (found.status, found.breaks, found.receiver_checked) == ("ok", (), True)
    recorded = derived.reconciliation(SEEDED_DAY)
    assert recorded.status == "ok" and recorded.reconciled_at == derived.clock.now()


def test_a_deleted_voucher_line_is_an_amount_mismatch_and_an_altered_voucher(
    derived: Finance,
) -> None:
    with derived.engine.begin() as conn:
        conn.execute(
            delete(store.voucher_lines).where(
                store.voucher_lines.c.voucher_id == "vch_20261130_fee_CNY",
                store.voucher_lines.c.ledger_code == 4001,
            )
        )

    found = derived.reconcile_day(SEEDED_DAY)

    assert found.status == "breaks"
    assert [b["kind"] for b in found.breaks] == ["voucher_altered", "amount_mismatch"]
    mismatch = found.breaks[1]
    assert (mismatch["gl_account"], mismatch["ledger_code"]) == ("600101", 4001)
    assert (mismatch["vouchers_credit_minor"], mismatch["ledger_credit_minor"]) == (0, 2_080)
    assert derived.reconciliation(SEEDED_DAY).breaks == found.breaks


def test_a_voucher_the_receiver_has_not_booked_is_missing_at_receiver(
    derived: Finance, receiver: FakeReceiver
) -> None:
    del receiver.days[SEEDED_DAY]["vch_20261130_refund_CNY"]

    assert _kinds(derived) == [("missing_at_receiver", "vch_20261130_refund_CNY")]
    assert derived.reconciliation(SEEDED_DAY).status == "breaks"


def test_a_voucher_booked_under_an_unknown_id_or_another_body_is_named(
    derived: Finance, receiver: FakeReceiver
) -> None:
    booked = receiver.days[SEEDED_DAY]
    booked["vch_20261130_reward_CNY"] = "0" * 64
    booked["vch_20261130_payin_CNY"] = "f" * 64

    assert _kinds(derived) == [
        ("body_mismatch", "vch_20261130_payin_CNY"),
        ("unknown_at_receiver", "vch_20261130_reward_CNY"),
    ]


def test_a_day_with_breaks_reconciles_again_once_the_receiver_caught_up(
    derived: Finance, receiver: FakeReceiver
) -> None:
    complete = dict(receiver.days[SEEDED_DAY])
    receiver.days[SEEDED_DAY].pop("vch_20261130_split_CNY")
    with derived.engine.begin() as conn:  # the push relay's part: every voucher pushed
        conn.execute(update(store.vouchers).values(push_status=store.PUSH_PUSHED))
    assert [r.status for r in derived.reconcile_due()] == ["breaks"]
    receiver.days[SEEDED_DAY] = complete

    assert derived.reconcile_due() == []  # retried only an hour later
    derived.clock.advance(3_601)
    assert [r.status for r in derived.reconcile_due()] == ["ok"]


def test_a_day_whose_vouchers_are_not_all_pushed_waits_for_the_push(derived: Finance) -> None:
    assert derived.reconcile_due() == []


def test_without_a_finance_system_only_the_ledger_is_checked(seeded_day: Shop) -> None:
    finance = Finance(seeded_day.runtime.engine, seeded_day.clock)
    after_day(seeded_day.clock)
    finance.derive_due()

    found = finance.reconcile_day(SEEDED_DAY)

    assert (found.status, found.receiver_checked) == ("ok", False)


def test_a_day_not_derived_has_no_reconciliation(finance: Finance) -> None:
    with pytest.raises(Rejected) as refused:
        finance.reconcile_day(SEEDED_DAY)
    assert refused.value.code == "finance_day_not_found"


def test_a_finance_system_that_cannot_answer_refuses_and_records_nothing(
    derived: Finance,
) -> None:
    def unreachable(_day: date) -> Mapping[str, str]:
        raise ReceiverError("ConnectError: connection refused")

    derived.booked = unreachable

    with pytest.raises(Rejected) as refused:
        derived.reconcile_day(SEEDED_DAY)

    assert refused.value.code == "finance_receiver_unavailable"
    assert derived.reconciliation(SEEDED_DAY).status == "pending"
