"""`Bills.check` proves every statement of a month against the journal, and names the
account when a rollup or a balance snapshot disagrees with it."""

from __future__ import annotations

from sqlalchemy import update

from paycore.bills import store
from paycore.ledger.store import entries
from tests.bills.conftest import Shop


def test_a_month_of_business_proves_out_for_every_account(billed_merchant: Shop) -> None:
    bills = billed_merchant.runtime.bills
    bills.close_days()
    for month in ("2026-10", "2026-11"):
        report = bills.check(month)
        assert report.ok, report.failures
        assert {r.account_id for r in report.rows} >= {billed_merchant.wallet}


def test_a_corrupted_rollup_row_fails_the_check_and_names_its_account(
    billed_merchant: Shop,
) -> None:
    bills = billed_merchant.runtime.bills
    bills.close_days()
    with bills.engine.begin() as conn:
        conn.execute(
            update(store.account_days)
            .where(
                store.account_days.c.account_id == billed_merchant.wallet,
                store.account_days.c.category == "payin",
            )
            .values(amount_in=store.account_days.c.amount_in + 1)
        )

    report = bills.check("2026-10")

    assert not report.ok
    assert [r.account_id for r in report.failures] == [billed_merchant.wallet]
    assert any("rollups" in p for p in report.failures[0].problems)


def test_a_tampered_balance_snapshot_fails_the_check_against_the_posted_transfers(
    billed_merchant: Shop,
) -> None:
    bills = billed_merchant.runtime.bills
    landlord = f"acct_uw_{billed_merchant.merchant_id}_landlord"
    with bills.engine.begin() as conn:
        conn.execute(
            update(entries)
            .where(entries.c.account_id == landlord)
            .values(credits_posted=entries.c.credits_posted + 500)
        )

    report = bills.check("2026-11")

    assert [r.account_id for r in report.failures] == [landlord]
    assert any("posted transfers" in p for p in report.failures[0].problems)
