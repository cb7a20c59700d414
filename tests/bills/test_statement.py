"""A statement is derived from the journal: opening + movements = closing, line by line."""

from __future__ import annotations

import pytest

from paycore.bills.model import Category, Statement
from paycore.errors import Rejected
from tests.bills.conftest import Shop


def lines_of(
    shop: Shop, period: str, account_id: str
) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    statement = shop.runtime.bills.statement(shop.merchant_id, period)
    [account] = [a for a in statement.accounts if a.account_id == account_id]
    return {
        (m.category.value, m.product, m.channel): (m.amount_in, m.amount_out, m.count)
        for m in account.movements
    }


def test_every_account_of_a_month_adds_up_from_opening_to_closing(billed_merchant: Shop) -> None:
    for period in ("2026-10", "2026-11", "2026-10-01", "2026-11-01", "2026-12"):
        statement = billed_merchant.runtime.bills.statement(billed_merchant.merchant_id, period)
        assert statement.accounts
        for account in statement.accounts:
            assert account.difference() == 0, (period, account)


def test_a_payin_shows_gross_by_product_and_channel_with_its_fee_as_a_line(
    billed_merchant: Shop,
) -> None:
    lines = lines_of(billed_merchant, "2026-10", billed_merchant.wallet)

    assert lines[("payin", "rent", "alpha")] == (150_000, 0, 3)
    assert lines[("payin", "deposit", "alpha")] == (50_000, 0, 1)
    assert lines[("fee", "", "")] == (0, 2_000, 4)
    assert lines[(Category.REFUND.value, "", "")] == (0, 20_000, 1)


def test_a_line_page_cursor_of_another_account_is_refused(billed_merchant: Shop) -> None:
    bills = billed_merchant.runtime.bills
    m = billed_merchant.merchant_id
    page = bills.line_transfers(
        m, "2026-10", billed_merchant.wallet, "payin", "rent", "alpha", limit=1
    )
    with pytest.raises(Rejected) as refused:
        bills.line_transfers(
            m, "2026-10", f"acct_uw_{m}_landlord", "split_received", after=page["next_after"]
        )
    assert refused.value.code == "invalid_cursor"


def test_every_flow_of_the_two_months_lands_on_its_own_line(billed_merchant: Shop) -> None:
    m = billed_merchant.merchant_id
    october = billed_merchant.runtime.bills.statement(m, "2026-10")
    november = billed_merchant.runtime.bills.statement(m, "2026-11")

    def categories(statement: Statement, account_id: str) -> set[str]:
        [account] = [a for a in statement.accounts if a.account_id == account_id]
        return {mv.category.value for mv in account.movements}

    assert categories(october, billed_merchant.wallet) == {
        "payin",
        "fee",
        "refund",
        "payout",
        "split_paid",
        "clawback",
    }
    assert categories(october, f"acct_uw_{m}_landlord") == {"split_received", "clawback"}
    assert categories(october, f"acct_cs_{m}_flat9") == {"custody_receipt", "custody_match"}
    assert categories(october, f"acct_rb_{m}_CNY") == {"reward"}
    assert categories(october, f"acct_ur_{m}_landlord") == {"collection"}
    assert categories(november, billed_merchant.wallet) == {
        "payin",
        "fee",
        "payout",
        "payout_return",
        "adjustment",
    }
    assert categories(november, f"acct_uw_{m}_landlord") == {"top_up", "debt_repayment"}
    assert categories(november, f"acct_cs_{m}_flat9") == {"custody_refund"}


def test_a_lines_filter_finds_exactly_the_transfers_it_sums(billed_merchant: Shop) -> None:
    bills = billed_merchant.runtime.bills
    statement = bills.statement(billed_merchant.merchant_id, "2026-11")
    for account in statement.accounts:
        for line in account.movements:
            found = bills.line_transfers(
                billed_merchant.merchant_id, **line.line_filter("2026-11"), limit=200
            )
            assert len(found["items"]) == line.count
            assert sum(i["amount_in"] - i["amount_out"] for i in found["items"]) == line.net
