"""Derivation of a business day's vouchers from the journal: balanced, grouped by flow,
only posted money, idempotent on replay, refused when the journal gives another body."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from paycore.errors import Rejected
from paycore.finance import store
from paycore.finance.service import Finance
from paycore.ledger.model import AccountOrigin, TransferRequest
from paycore.ledger.service import AccountRequest
from paycore.ledger.store import entries
from tests.finance.conftest import SEEDED_DAY, Shop, after_day
from tests.payments.fakes import succeeded


def _by_type(finance: Finance, day: date) -> dict[str, dict[str, object]]:
    return {r.voucher.voucher_type: r.view(lines=True) for r in finance.vouchers(day)}


def test_a_seeded_day_becomes_one_balanced_voucher_per_flow_and_currency(
    seeded_day: Shop, finance: Finance
) -> None:
    after_day(seeded_day.clock)

    derived = finance.derive_due()

    assert [r.business_date for r in derived] == [SEEDED_DAY]
    found = _by_type(finance, SEEDED_DAY)
    assert sorted(found) == ["custody_receipt", "fee", "payin", "payout", "refund", "split"]
    for voucher in found.values():
        assert voucher["debit_total_minor"] == voucher["credit_total_minor"]
        assert voucher["push_status"] == "pending"
    # pay-ins 208,000 gross less 1% fee: the merchants' funds are credited the net
    payin = found["payin"]
    assert [(x["gl_account"], x["debit_minor"], x["credit_minor"]) for x in payin["lines"]] == [
        ("112201", 205_920, 0),
        ("224101", 0, 205_920),
    ]
    assert found["fee"]["credit_total_minor"] == 2_080
    assert found["payin"]["transfer_count"] == found["fee"]["transfer_count"] == 5
    # the deposit's net moved from the merchant's funds into the payer's sub-account
    custody = {x["ledger_code"]: x for x in found["custody_receipt"]["lines"]}
    assert (custody[2001]["debit_minor"], custody[2201]["credit_minor"]) == (7_920, 7_920)


def test_holds_are_not_booked_and_a_hold_posted_the_next_day_is_booked_that_day(
    seeded_day: Shop, finance: Finance
) -> None:
    late = seeded_day.payout(3_000, answer=None)
    after_day(seeded_day.clock)
    seeded_day.callback("payout", late, "succeeded")  # posted on 1 December

    finance.derive_due()
    seeded_day.clock.advance(86_400)
    finance.derive_due()

    first = _by_type(finance, SEEDED_DAY)["payout"]
    second = _by_type(finance, SEEDED_DAY + timedelta(days=1))["payout"]
    assert first["transfer_count"] == 2 and first["debit_total_minor"] == 80_000  # 40,000 paid
    assert second["transfer_count"] == 2 and second["debit_total_minor"] == 6_000


def test_deriving_a_day_again_yields_the_same_ids_and_writes_nothing(
    seeded_day: Shop, finance: Finance
) -> None:
    after_day(seeded_day.clock)
    first = finance.derive_day(SEEDED_DAY)
    before = {r.voucher.id: r.body_hash for r in finance.vouchers(SEEDED_DAY)}

    again = finance.derive_day(SEEDED_DAY)

    assert again.voucher_ids == first.voucher_ids and again.written == 0
    assert first.written == len(before) > 0
    assert {r.voucher.id: r.body_hash for r in finance.vouchers(SEEDED_DAY)} == before
    assert finance.derive_due() == []


def test_a_journal_that_now_gives_another_body_is_refused_and_nothing_is_overwritten(
    seeded_day: Shop, finance: Finance
) -> None:
    after_day(seeded_day.clock)
    finance.derive_day(SEEDED_DAY)
    before = {r.voucher.id: r.body_hash for r in finance.vouchers(SEEDED_DAY)}
    with finance.engine.begin() as conn:  # a transfer of the day changed under the vouchers
        transfer = conn.execute(
            select(entries.c.transfer_id).where(entries.c.event == "posted")
        ).scalar()
        conn.execute(update(entries).where(entries.c.transfer_id == transfer).values(amount=1))

    with pytest.raises(Rejected) as refused:
        finance.derive_day(SEEDED_DAY)

    assert refused.value.code == "finance_voucher_conflict"
    assert {r.voucher.id: r.body_hash for r in finance.vouchers(SEEDED_DAY)} == before


def test_a_day_is_derived_only_once_it_is_over_and_the_grace_has_passed(
    seeded_day: Shop, finance: Finance
) -> None:
    after_day(seeded_day.clock, grace_s=30)

    assert finance.derive_due() == []
    with pytest.raises(Rejected) as refused:
        finance.derive_day(SEEDED_DAY)
    assert refused.value.code == "finance_day_not_over"

    seeded_day.clock.advance(31)
    assert [r.business_date for r in finance.derive_due()] == [SEEDED_DAY]


def test_a_ledger_code_the_chart_does_not_map_refuses_the_day(
    seeded_day: Shop, finance: Finance
) -> None:
    after_day(seeded_day.clock)
    chart = finance.chart
    narrow = type(chart)(
        chart.accounts, {k: v for k, v in chart.by_ledger_code.items() if k != 4002}
    )
    strict = Finance(finance.engine, finance.clock, chart=narrow)

    with pytest.raises(Rejected) as refused:
        strict.derive_due()

    assert refused.value.code == "finance_code_unmapped" and "4002" in refused.value.detail
    with finance.engine.connect() as conn:
        assert store.last_day(conn) is None


def test_days_without_movements_are_recorded_empty_and_the_next_one_continues(
    seeded_day: Shop, finance: Finance
) -> None:
    after_day(seeded_day.clock)  # 00:01 on 1 December in Shanghai
    seeded_day.clock.advance(86_400)
    seeded_day.payin(10_000)  # on 2 December
    seeded_day.clock.advance(2 * 86_400)

    derived = finance.derive_due()

    assert [(r.business_date.day, len(r.voucher_ids)) for r in derived] == [
        (30, 6), (1, 0), (2, 2), (3, 0)
    ]  # fmt: skip


def test_an_operators_transfer_is_booked_as_other_and_merchants_own_books_are_not(
    seeded_day: Shop, finance: Finance
) -> None:
    ledger = seeded_day.runtime.ledger
    ledger.create_accounts(
        [
            AccountRequest(id="acct_own_a", currency="CNY", code=77, origin=AccountOrigin.API),
            AccountRequest(id="acct_own_b", currency="CNY", code=77, origin=AccountOrigin.API),
        ]
    )
    moves = [
        TransferRequest("tr_own_1", "acct_own_a", "acct_own_b", 900, "CNY", code=5),
        TransferRequest("tr_manual_1", "acct_fee_CNY", "acct_clr_alpha_CNY", 300, "CNY", code=9),
    ]
    assert [r.result for r in ledger.create_transfers(moves)] == ["created", "created"]
    after_day(seeded_day.clock)

    finance.derive_due()

    found = _by_type(finance, SEEDED_DAY)
    assert found["other"]["debit_total_minor"] == 300 and found["other"]["transfer_count"] == 1
    assert all(line["ledger_code"] != 77 for v in found.values() for line in v["lines"])


def test_the_custody_cutoffs_auto_refund_is_booked_on_the_day_it_runs(
    seeded_day: Shop, finance: Finance
) -> None:
    after_day(seeded_day.clock)
    seeded_day.alpha.then(succeeded())
    run = seeded_day.runtime.custody.run_cutoff("sandbox_custody", SEEDED_DAY)
    assert run.refunds == 1
    seeded_day.clock.advance(86_400)

    finance.derive_due()

    next_day = _by_type(finance, SEEDED_DAY + timedelta(days=1))
    assert sorted(next_day) == ["custody_refund", "refund"]
    back = {x["ledger_code"]: x for x in next_day["custody_refund"]["lines"]}
    assert (back[2201]["debit_minor"], back[2001]["credit_minor"]) == (7_920, 7_920)
    assert next_day["refund"]["lines"][0]["debit_minor"] == 7_920  # what custody held


def test_deriving_a_later_day_derives_the_days_before_it_in_order(
    seeded_day: Shop, finance: Finance
) -> None:
    after_day(seeded_day.clock)
    seeded_day.clock.advance(2 * 86_400)

    result = finance.derive_day(SEEDED_DAY + timedelta(days=2))

    assert (result.business_date, result.written) == (SEEDED_DAY + timedelta(days=2), 0)
    assert len(finance.vouchers(SEEDED_DAY)) == 6
    with pytest.raises(Rejected) as refused:
        finance.derive_day(SEEDED_DAY - timedelta(days=1))
    assert refused.value.code == "finance_day_before_first"
