"""Matching a day's statement against payment orders: known matches and each break type."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from paycore.channels.model import ChannelResult, ChannelStatus, FailureClass
from paycore.clock import ManualClock
from paycore.recon.breaks import suspense_account
from paycore.recon.model import business_date_of, day_start
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from tests.payments.fakes import ScriptedChannel
from tests.recon.conftest import ALPHA_FEE_BPS, DAY, START, Row, paid_payout, pay, write_statement


def _import(recon: Recon, path: Path, rows: list[Row]) -> str:
    found, _created = recon.import_file(
        write_statement(path, rows), format="test_csv", source="alpha"
    )
    return str(found["id"])


def _types(recon: Recon) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for b in recon.list_breaks():
        found.setdefault(str(b["type"]), []).append(b)
    return found


def test_a_day_of_statement_lines_matches_orders_and_reports_each_break_type_once(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    ok = pay(runtime, alpha, merchant_id, amount=10_000, txn="T1")
    short = pay(runtime, alpha, merchant_id, amount=20_000, txn="T2")
    pending = pay(runtime, alpha, merchant_id, amount=3_000, outcome="processing")
    fee = pay(runtime, alpha, merchant_id, amount=5_000, txn="T4")
    by_reference = pay(runtime, alpha, merchant_id, amount=8_000, txn="T6")
    unseen = pay(runtime, alpha, merchant_id, amount=4_000, txn="T5")
    rows = [
        Row("L1", 10_000, channel_txn_id="T1", fee=ok.fee_amount),
        Row("L2", 19_900, channel_txn_id="T2", fee=short.fee_amount),
        Row("L3", 3_000, reference=pending.id, fee=pending.fee_amount),
        Row("L4", 5_000, channel_txn_id="T4", fee=fee.fee_amount + 1),
        Row("L5", 7_700, channel_txn_id="NOBODY"),
        Row("L6", 8_000, reference=by_reference.id, fee=by_reference.fee_amount),
    ]
    _import(recon, tmp_path / "day.csv", rows)
    _import(recon, tmp_path / "again.csv", [rows[0], Row("L7", 100, channel_txn_id="T1")])

    report = recon.run(source="alpha", business_date=DAY)

    assert report["lines"] == 7  # the second file's copy of L1 is the same line, kept once
    assert report["matched"] == 5  # L1..L4 and L6; L5 has no order, L7 claims T1 again
    assert report["waiting"] == 1  # `unseen` may still come on tomorrow's statement
    found = _types(recon)
    assert {t: [b["order_id"] for b in bs] for t, bs in found.items() if t != "duplicate"} == {
        "amount_mismatch": [short.id],
        "status_mismatch": [pending.id],
        "fee_mismatch": [fee.id],
        "missing_on_our_side": [None],
    }
    assert [b["line_no"] for b in found["duplicate"]] == [3]
    assert found["amount_mismatch"][0]["line_amount"] == 19_900
    assert found["missing_on_our_side"][0]["line_amount"] == 7_700
    assert sum(report["breaks_by_type"].values()) == report["breaks_new"] == 5
    assert unseen.status.value == "succeeded"


def test_an_order_paid_late_in_the_day_waits_for_the_next_days_statement(
    recon: Recon,
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    late = pay(runtime, alpha, merchant_id, amount=6_000, txn="LATE")
    first = recon.run(source="alpha", business_date=DAY)
    assert (first["waiting"], first["breaks_new"]) == (1, 0)

    clock.advance(24 * 3600)
    next_day = START + timedelta(days=1)
    line = Row("N1", 6_000, channel_txn_id="LATE", fee=late.fee_amount, booked_at=next_day)
    _import(recon, tmp_path / "d2.csv", [line])
    second = recon.run(source="alpha", business_date=DAY + timedelta(days=1))

    assert (second["matched"], second["breaks_new"]) == (1, 0)
    assert recon.list_breaks() == []
    assert late.channel_txn_id == "LATE"


def test_an_order_missing_from_the_statement_breaks_once_its_window_has_passed(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str
) -> None:
    lost = pay(runtime, alpha, merchant_id, amount=4_000, txn="LOST")
    recon.run(source="alpha", business_date=DAY)
    assert recon.list_breaks() == []

    recon.run(source="alpha", business_date=DAY + timedelta(days=1))
    again = recon.run(source="alpha", business_date=DAY + timedelta(days=1))

    [found] = recon.list_breaks()
    assert (found["type"], found["order_id"], found["order_amount"]) == (
        "missing_on_channel_side",
        lost.id,
        4_000,
    )
    assert found["business_date"] == DAY + timedelta(days=1)
    assert again["breaks_new"] == 0


def test_re_running_a_day_matches_the_same_lines_and_adds_no_break_twice(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    order = pay(runtime, alpha, merchant_id, amount=9_000, txn="R1")
    line = Row("A", 9_100, channel_txn_id="R1", fee=order.fee_amount)
    _import(recon, tmp_path / "d.csv", [line, Row("B", 50)])

    first = recon.run(source="alpha", business_date=DAY)
    second = recon.run(source="alpha", business_date=DAY)

    assert first["breaks_new"] == 2 and second["breaks_new"] == 0
    assert second["matched"] == first["matched"] == 1
    assert len(recon.list_breaks()) == 2
    assert recon.get_run(str(first["id"]))["breaks_by_type"] == {
        "amount_mismatch": 1,
        "missing_on_our_side": 1,
    }
    assert order.amount == 9_000


def test_lines_of_another_source_or_day_are_not_matched(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    pay(runtime, alpha, merchant_id, amount=1_000, txn="X1")
    found, _ = recon.import_file(
        write_statement(tmp_path / "beta.csv", [Row("B1", 1_000, channel_txn_id="X1")]),
        format="test_csv",
        source="beta",
    )
    report = recon.run(source="alpha", business_date=DAY)
    other_day = recon.run(source="beta", business_date=DAY - timedelta(days=1))

    assert report["lines"] == 0 and other_day["lines"] == 0
    assert found["source"] == "beta"


@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    seconds=st.integers(min_value=0, max_value=24 * 3600 - 1),
)
def test_every_instant_of_a_shanghai_business_day_belongs_to_that_day(
    day: date, seconds: int
) -> None:
    start = day_start(day)
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
    assert business_date_of(start + timedelta(seconds=seconds)) == day
    assert business_date_of(start - timedelta(microseconds=1)) == day - timedelta(days=1)
    assert day_start(day + timedelta(days=1)) - start == timedelta(hours=24)
    assert datetime(day.year, day.month, day.day, tzinfo=UTC) - start == timedelta(hours=8)


def test_a_line_that_names_our_order_with_another_amount_is_an_amount_mismatch(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    """Our order id echoed back is as sure as the channel's own id: the line is that order's,
    and a different amount is one break, not a surplus plus a shortfall."""
    order = pay(runtime, alpha, merchant_id, amount=6_000, txn=None)
    _import(
        recon, tmp_path / "day.csv", [Row("L1", 5_990, reference=order.id, fee=order.fee_amount)]
    )

    report = recon.run(source="alpha", business_date=DAY)

    assert report["matched"] == 1
    found = _types(recon)
    assert list(found) == ["amount_mismatch"]
    assert (
        found["amount_mismatch"][0]["order_id"],
        found["amount_mismatch"][0]["line_amount"],
    ) == (
        order.id,
        5_990,
    )


def test_a_payout_the_statement_shows_returned_is_queried_back_and_returned_in_the_same_run(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    payout = paid_payout(runtime, alpha, merchant_id, amount=30_000, txn="P1")
    # The return's callback never came; the bank's query and statement know it.
    alpha.truth[payout.id] = ChannelResult(
        ChannelStatus.RETURNED, channel_txn_id="P1", failure_code="account_closed",
        failure_class=FailureClass.USER,
    )  # fmt: skip
    _import(
        recon,
        tmp_path / "day.csv",
        [
            Row("P1", 30_000, "P1", kind="payout", direction="debit", fee=payout.fee_amount),
            Row("P1/RETURN", 30_000, "P1", kind="payout", direction="credit"),
        ],
    )

    report = recon.run(source="alpha", business_date=DAY)

    after = runtime.payments.get(merchant_id=None, order_id=payout.id)
    [mismatch] = recon.list_breaks()
    assert (payout.status.value, after.status.value) == ("succeeded", "returned")
    assert (report["matched"], report["queried_back"], report["auto_resolved"]) == (2, 1, 1)
    assert (mismatch["type"], mismatch["status"], mismatch["line_no"]) == (
        "status_mismatch", "resolved", 3,
    )  # fmt: skip
    assert runtime.payments.balances(merchant_id)[0]["available"] == 60_000 - payout.fee_amount
    assert runtime.ledger.check().ok


def test_a_lines_fee_is_checked_against_the_channels_contract_not_the_merchants_price(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, tmp_path: Path
) -> None:
    merchant, _secret = runtime.merchants.create(name="Cheap Shop", fee_bps=60)
    as_contracted = pay(runtime, alpha, merchant.id, amount=10_000, txn="F1")
    at_merchant_price = pay(runtime, alpha, merchant.id, amount=20_000, txn="F2")
    contract = {
        o.id: (o.amount * ALPHA_FEE_BPS + 5_000) // 10_000
        for o in (as_contracted, at_merchant_price)
    }
    _import(
        recon,
        tmp_path / "day.csv",
        [
            Row("F1", 10_000, channel_txn_id="F1", fee=contract[as_contracted.id]),
            Row("F2", 20_000, channel_txn_id="F2", fee=at_merchant_price.fee_amount),
        ],
    )

    recon.run(source="alpha", business_date=DAY)

    [fee] = recon.list_breaks()
    assert at_merchant_price.fee_amount != contract[at_merchant_price.id]
    assert (fee["type"], fee["order_id"]) == ("fee_mismatch", at_merchant_price.id)
    assert (fee["line_fee"], fee["order_fee"]) == (120, contract[at_merchant_price.id])


def test_fees_are_not_compared_for_a_channel_without_a_contracted_fee(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    order = pay(runtime, alpha, merchant_id, amount=10_000, txn="NF1")
    _import(recon, tmp_path / "day.csv", [Row("NF1", 10_000, channel_txn_id="NF1", fee=999)])
    recon.fee_bps_of = lambda _source: None

    report = recon.run(source="alpha", business_date=DAY)

    assert (report["matched"], recon.list_breaks()) == (1, [])
    assert order.status.value == "succeeded"


def test_a_return_days_after_its_payout_matches_it_by_reference_and_credits_nothing_twice(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path,
    clock: ManualClock,
) -> None:  # fmt: skip
    payout_id = paid_payout(runtime, alpha, merchant_id, amount=12_000, txn="P7").id
    clock.advance(3 * 86_400)
    later = DAY + timedelta(days=3)
    alpha.truth[payout_id] = ChannelResult(
        ChannelStatus.RETURNED, channel_txn_id="P7", failure_code="account_closed",
        failure_class=FailureClass.USER,
    )  # fmt: skip
    # Booked by the bank as a credit received, naming our payout only by reference.
    late = START + timedelta(days=3)
    _import(
        recon, tmp_path / "later.csv", [Row("RET7", 12_000, reference=payout_id, booked_at=late)]
    )

    report = recon.run(source="alpha", business_date=later)

    [mismatch] = recon.list_breaks()
    after = runtime.payments.get(merchant_id=None, order_id=payout_id)
    assert (report["matched"], after.status.value) == (1, "returned")
    assert (mismatch["type"], mismatch["status"]) == ("status_mismatch", "resolved")
    assert runtime.ledger.get_account(suspense_account("CNY")) is None
