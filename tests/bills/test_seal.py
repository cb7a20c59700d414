"""Month close seals each merchant's statement with a chained hash; a sealed month is never
edited, and what the journal later says differently opens the next month as an adjustment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from paycore.bills import store
from paycore.bills.model import seal_hash
from paycore.errors import Rejected
from paycore.ledger.store import entries, transfers
from tests.bills.conftest import Shop

DEC_1 = datetime(2026, 11, 30, 16, 2, tzinfo=UTC)  # two minutes into 1 December in Shanghai


def test_a_month_is_not_sealed_before_it_is_over_in_shanghai(billed_merchant: Shop) -> None:
    with pytest.raises(Rejected) as refused:
        billed_merchant.runtime.bills.close_month("2026-11")
    assert refused.value.code == "month_not_over"


def test_sealing_is_idempotent_and_chains_each_month_to_the_one_before(
    billed_merchant: Shop,
) -> None:
    bills = billed_merchant.runtime.bills
    m = billed_merchant.merchant_id
    assert bills.close_month("2026-10") == [m]
    assert bills.close_month("2026-10") == []
    billed_merchant.at(DEC_1)
    bills.close_days()
    assert bills.close_due_months() == ["2026-11"]

    october = bills.month_statement(m, "2026-10")
    november = bills.month_statement(m, "2026-11")
    assert october["sealed"] and november["sealed"]
    assert november["previous_hash"] == october["hash"]
    assert november["hash"] == seal_hash(november["lines"], october["hash"])
    assert bills.statement(m, "2026-10").sealed_hash == october["hash"]
    assert bills.verify_seals() == []


def test_an_edited_sealed_statement_fails_its_verification(billed_merchant: Shop) -> None:
    bills = billed_merchant.runtime.bills
    bills.close_month("2026-10")
    with bills.engine.begin() as conn:
        conn.execute(update(store.statements).values(lines=[{"line": "opening", "amount": 1}]))

    [problem] = bills.verify_seals("2026-10")
    assert problem.merchant_id == billed_merchant.merchant_id
    assert bills.check("2026-10").seals


def test_a_late_entry_in_a_sealed_month_opens_the_next_month_as_an_adjustment(
    billed_merchant: Shop,
) -> None:
    bills = billed_merchant.runtime.bills
    m = billed_merchant.merchant_id
    landlord = f"acct_uw_{m}_landlord"
    bills.close_month("2026-10")
    sealed_lines = bills.month_statement(m, "2026-10")["lines"]
    late = datetime(2026, 10, 20, 4, 0, tzinfo=UTC)
    with bills.engine.begin() as conn:  # the November top-up turns out to be of October
        conn.execute(update(transfers).where(transfers.c.id == "tr_top_t1").values(created_at=late))
        conn.execute(
            update(entries).where(entries.c.transfer_id == "tr_top_t1").values(created_at=late)
        )

    november = bills.statement(m, "2026-11")
    [account] = [a for a in november.accounts if a.account_id == landlord]
    assert account.adjustment == 4_000
    assert account.difference() == 0
    assert "top_up" not in {mv.category.value for mv in account.movements}
    assert bills.month_statement(m, "2026-10")["lines"] == sealed_lines
    assert bills.check("2026-11").ok
    assert [r.account_id for r in bills.check("2026-10").failures] == [landlord]
