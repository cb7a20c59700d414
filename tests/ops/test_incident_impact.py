"""An incident's impact counts money mis-moved from the checks that ran in its window."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine, insert

from paycore.clock import ManualClock
from paycore.finance.store import derived_days, vouchers
from paycore.ops.alerts import scope_of
from paycore.ops.impact import ImpactMeter, imbalances
from paycore.ops.model import Grade, grade_of
from paycore.payments.model import PROBE_MERCHANT_ID
from tests.ops.conftest_incidents import add_check_run, add_order


def test_a_failed_ledger_check_in_the_window_counts_its_imbalance_as_mismoved(
    engine: Engine, clock: ManualClock
) -> None:
    start = clock.now()
    add_check_run(engine, at=start - timedelta(minutes=5), ok=False, totals={"EUR": [0, 9, 0, 0]})
    add_check_run(engine, at=start + timedelta(minutes=1), ok=True)
    add_check_run(engine, at=start + timedelta(minutes=2), ok=False,
                  totals={"CNY": [5, 100, 5, 70], "USD": [1, 1, 1, 1]})  # fmt: skip

    impact = ImpactMeter(engine).measure(start=start, end=start + timedelta(minutes=3))

    assert impact.money_mismoved_minor == {"CNY": 30}
    assert impact.checks_failed == 1
    assert grade_of(impact) is Grade.A


def test_a_passing_last_check_leaves_nothing_mismoved(engine: Engine, clock: ManualClock) -> None:
    start = clock.now()
    add_check_run(engine, at=start + timedelta(seconds=10), ok=False, totals={"CNY": [0, 1, 0, 0]})
    add_check_run(engine, at=start + timedelta(seconds=20), ok=True)

    impact = ImpactMeter(engine).measure(start=start, end=start + timedelta(minutes=1))

    assert not impact.money_mismoved and impact.checks_failed == 0


def test_a_failed_cross_slice_check_without_an_imbalance_still_counts(
    engine: Engine, clock: ManualClock
) -> None:
    start = clock.now()
    add_check_run(engine, at=start + timedelta(seconds=10), ok=False, totals={"CNY": [0, 5, 0, 5]})

    impact = ImpactMeter(engine).measure(start=start, end=start + timedelta(minutes=1))

    assert impact.money_mismoved_minor == {} and impact.checks_failed == 1
    assert grade_of(impact) is Grade.A


def test_finance_days_reconciled_in_the_window_with_breaks_count_what_they_leave_out(
    engine: Engine, clock: ManualClock
) -> None:
    start = clock.now()
    mismatch = {
        "kind": "amount_mismatch",
        "currency": "CNY",
        "vouchers_debit_minor": 100,
        "vouchers_credit_minor": 0,
        "ledger_debit_minor": 350,
        "ledger_credit_minor": 0,
    }
    other_side = {**mismatch, "vouchers_debit_minor": 0, "vouchers_credit_minor": 100,
                  "ledger_debit_minor": 0, "ledger_credit_minor": 350}  # fmt: skip
    breaks = [{"kind": "missing_at_receiver", "voucher_id": "vch_1"}, mismatch, other_side]
    with engine.begin() as conn:
        conn.execute(insert(vouchers).values(
            id="vch_1", business_date=date(2026, 1, 1), currency="USD", voucher_type="fee",
            summary="", debit_total_minor=1200, credit_total_minor=1200, transfer_count=1,
            body_hash="0" * 64, created_at=start, push_status="pending", push_attempts=1,
            next_push_at=start, last_error="",
        ))  # fmt: skip
        for day, at, found in (
            (date(2026, 1, 1), start + timedelta(seconds=30), breaks),
            (date(2025, 12, 31), start - timedelta(hours=1), breaks),
            (date(2025, 12, 30), start + timedelta(seconds=40), []),
        ):
            conn.execute(insert(derived_days).values(
                business_date=day, vouchers=3, derived_at=at, last_seq=0,
                recon_status="breaks" if found else "ok", recon_at=at,
                recon_breaks={"receiver_checked": True, "breaks": found},
            ))  # fmt: skip

    impact = ImpactMeter(engine).measure(start=start, end=start + timedelta(minutes=1))

    assert impact.money_mismoved_minor == {"CNY": 250, "USD": 1200}
    assert impact.checks_failed == 1


def test_orders_of_other_products_are_left_out_when_the_incident_names_its_products(
    engine: Engine, clock: ManualClock
) -> None:
    start = clock.now()
    for product in ("qr", "qr", "card"):
        add_order(engine, created_at=start + timedelta(seconds=5), status="failed",
                  failure_class="channel", product=product)  # fmt: skip

    impact = ImpactMeter(engine).measure(
        start=start, end=start + timedelta(minutes=1), products=("card",)
    )

    assert impact.orders == 1 and impact.products == ("card",)
    assert impact.traffic_share_ppm == 1_000_000 // 3


def test_a_burn_rate_incident_on_a_channels_pay_ins_counts_that_channels_failed_pay_ins(
    engine: Engine, clock: ManualClock
) -> None:
    start = clock.now()
    for kind, channel in (("payin", "alpha"), ("payout", "alpha"), ("payin", "beta")):
        add_order(engine, created_at=start + timedelta(seconds=5), status="failed",
                  failure_class="channel", kind=kind, channel=channel)  # fmt: skip
    kinds, channels = scope_of("success:payin:alpha")

    impact = ImpactMeter(engine).measure(
        start=start, end=start + timedelta(minutes=1), kinds=kinds, channels=channels
    )

    assert impact.orders == 1 and impact.kinds == ("payin",) and impact.channels == ("alpha",)
    assert impact.products == ("qr",)  # the product the failed pay-in was for


def test_the_probers_synthetic_pay_ins_are_not_orders_an_incident_touched(
    engine: Engine, clock: ManualClock
) -> None:
    start = clock.now()
    for merchant in ("mch_1", PROBE_MERCHANT_ID, PROBE_MERCHANT_ID):
        add_order(engine, created_at=start + timedelta(seconds=5), status="failed",
                  failure_class="channel", merchant_id=merchant)  # fmt: skip

    impact = ImpactMeter(engine).measure(start=start, end=start + timedelta(minutes=1))

    assert (impact.orders, impact.merchants, impact.traffic_share_ppm) == (1, 1, 1_000_000)


def test_imbalances_add_pending_and_posted_gaps_per_currency() -> None:
    assert imbalances({"CNY": [10, 0, 4, 0], "USD": [0, 3, 0, 9], "EUR": [1, 1, 1, 1]}) == {
        "CNY": 6,
        "USD": 6,
    }
