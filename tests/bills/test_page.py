# ruff: noqa: RUF001  (the Chinese bill is checked with its own punctuation)
"""The plain-language bill from statements built by hand: its figures, its words in
Chinese and English, its sections, and its charts. No database."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from paycore.bills.chart import Flow, daily_chart, money_text, months_chart, nice_top
from paycore.bills.model import (
    AccountStatement,
    Balances,
    Category,
    Movement,
    Statement,
    month_period,
)
from paycore.bills.page import PageFacts, bill_view
from paycore.bills.page_service import render_html
from paycore.bills.page_store import Attention, AttentionGroup, Payer, Payers

M = "mch_lake"
WALLET = "acct_mw_lake_CNY"
LANDLORD = "acct_uw_landlord"
DEBT = "acct_ur_landlord"
AS_OF = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def wallet(opening: int, movements: list[Movement], on_hold: int = 0) -> AccountStatement:
    closing = opening + sum(m.net for m in movements)
    return AccountStatement(
        account_id=WALLET,
        owner_id=M,
        code=2001,
        currency="CNY",
        debit_normal=False,
        opening=Balances(credits_posted=opening),
        closing=Balances(credits_posted=closing, debits_pending=on_hold),
        movements=tuple(movements),
    )


def november(*accounts: AccountStatement, **extras: object) -> Statement:
    return Statement(M, None, month_period("2026-11"), accounts, AS_OF, extras=extras)


SHOP = wallet(
    148_500,
    [
        Movement(WALLET, Category.PAYIN, "rent", "alpha", amount_in=65_000, count=2),
        Movement(WALLET, Category.PAYIN, "deposit", "alpha", amount_in=25_000, count=1),
        Movement(WALLET, Category.FEE, amount_out=900, count=3),
        Movement(WALLET, Category.PAYOUT, amount_out=10_000, count=1),
        Movement(WALLET, Category.REFUND, amount_out=2_000, count=1),
    ],
    on_hold=15_000,
)
FACTS = PageFacts(
    merchant_name="Lakeside Rentals",
    fee_bps=100,
    payers=[Payers("CNY", 2, 3, (Payer("张*", 2, 65_000), Payer("李*", 1, 25_000)))],
    daily={"CNY": {date(2026, 11, 1): (60_000, 900), date(2026, 11, 10): (30_000, 12_000)}},
)


def test_opening_plus_money_in_less_money_out_is_the_closing_in_plain_words() -> None:
    view = bill_view(november(SHOP), FACTS)

    [bill] = view.currencies
    assert (bill.opening.minor, bill.money_in.minor, bill.money_out.minor) == (
        148_500,
        90_000,
        12_900,
    )
    assert bill.closing.minor == 148_500 + 90_000 - 12_900 == 225_600
    assert bill.equation == "月初余额 ¥1,485.00 + 收入 ¥900.00 − 支出 ¥129.00 = 月末余额 ¥2,256.00"
    assert bill.on_hold.text == "¥150.00"


def test_the_bill_is_in_chinese_by_default_and_in_english_when_asked() -> None:
    zh = bill_view(november(SHOP), FACTS)
    en = bill_view(november(SHOP), FACTS, lang="en")

    assert zh.title == "Lakeside Rentals 2026年11月账单"
    assert en.title == "Lakeside Rentals: bill for November 2026"
    assert [line.label for line in zh.currencies[0].came_in] == ["顾客付款"]
    assert [line.label for line in en.currencies[0].went_out] == [
        "Sent to your bank account",
        "Refunded to customers",
    ]
    assert en.currencies[0].equation.startswith("At the start of the month CN¥1,485.00 + ")
    assert en.as_of_text == "Figures as of 2026-11-30 18:00 (China Standard Time)"


def test_money_in_is_shown_by_product_and_channel_and_payers_by_masked_name() -> None:
    [bill] = bill_view(november(SHOP), FACTS, lang="en").currencies

    assert [(p.product, p.channel, p.count, p.amount.minor) for p in bill.payins] == [
        ("rent", "alpha", 2, 65_000),
        ("deposit", "alpha", 1, 25_000),
    ]
    assert bill.payers_text == "2 payers made 3 payments"
    assert [(p.name, p.payins, p.amount.text) for p in bill.payers] == [
        ("张*", 2, "CN¥650.00"),
        ("李*", 1, "CN¥250.00"),
    ]


def test_fees_say_what_was_charged_and_at_which_rate() -> None:
    [bill] = bill_view(november(SHOP), FACTS).currencies

    assert (bill.fees.minor, bill.fee_count) == (900, 3)
    assert bill.fee_text == "每笔顾客付款按 1.00% 收取手续费；本月共 3 笔手续费，合计 ¥9.00。"
    assert "fee" not in [line.key for line in bill.went_out]


def test_a_hold_says_when_it_is_released_and_a_hold_without_a_timeout_when_its_payment_ends() -> (
    None
):
    holds = [
        {"account_id": WALLET, "direction": "out", "category": "payout", "amount": 15_000},
        {
            "account_id": WALLET,
            "direction": "in",
            "category": "split_received",
            "amount": 2_000,
            "expires_at": datetime(2026, 12, 3, 6, 0, tzinfo=UTC),
        },
    ]
    [bill] = bill_view(november(SHOP, holds=holds), FACTS, lang="en").currencies

    assert [(h.what, h.amount.minor, h.release_text) for h in bill.holds] == [
        ("A delayed split, yours when it is due", 2_000, "2026-12-03 14:00"),
        ("A payout on its way to your bank", 15_000, "when the payment finishes"),
    ]
    assert bill.holds_total.minor == 17_000


def test_what_users_owe_is_shown_apart_and_stays_out_of_the_balance_sum() -> None:
    debt = AccountStatement(
        account_id=DEBT,
        owner_id=f"{M}:landlord",
        code=1301,
        currency="CNY",
        debit_normal=True,
        opening=Balances(debits_posted=3_000),
        closing=Balances(debits_posted=3_000, credits_posted=1_000),
        movements=(Movement(DEBT, Category.DEBT_REPAYMENT, amount_out=1_000, count=1),),
    )
    [bill] = bill_view(november(SHOP, debt), FACTS).currencies

    assert [(d.who, d.opening.minor, d.closing.minor) for d in bill.owed] == [
        ("landlord", 3_000, 2_000)
    ]
    assert bill.owed_total.text == "¥20.00"
    assert bill.closing.minor == 225_600  # the wallet's alone


def test_nothing_needs_your_attention_is_said_when_nothing_does() -> None:
    assert bill_view(november(SHOP), FACTS).attention_text == "没有需要您处理的事。"
    calm = bill_view(november(SHOP), FACTS, lang="en")
    assert (calm.attention, calm.attention_text) == ((), "Nothing needs your attention.")


def test_each_thing_that_needs_attention_is_counted_with_its_first_examples() -> None:
    groups = [
        AttentionGroup(
            "failed_collection",
            2,
            (Attention("failed_collection", "col_1#3 (t1)", 300_000, "CNY", date(2026, 11, 5)),),
        ),
        AttentionGroup("refund_waiting", 1, ()),
    ]
    facts = PageFacts(merchant_name="Lakeside Rentals", attention=groups)
    view = bill_view(november(SHOP), facts, lang="en")

    assert [(a.kind, a.text) for a in view.attention] == [
        ("failed_collection", "2 rent collection(s) failed after every retry"),
        ("refund_waiting", "1 refund(s) are still waiting for the bank"),
    ]
    assert view.attention[0].examples == ("col_1#3 (t1) · 2026-11-05 · CN¥3,000.00",)
    assert view.attention_text == ""


def test_json_carries_money_as_integer_minor_units_beside_its_text() -> None:
    data = bill_view(november(SHOP), FACTS).to_json()

    closing = data["currencies"][0]["closing"]
    assert closing == {"minor": 225_600, "currency": "CNY", "text": "¥2,256.00"}
    assert data["as_of"] == "2026-11-30T10:00:00+00:00"
    day = data["currencies"][0]["daily"][9]
    assert (day["label"], day["money_in"]["minor"], day["money_out"]["minor"]) == (
        "2026-11-10",
        30_000,
        12_000,
    )


def test_the_months_chart_ends_with_this_month_after_at_most_eleven_before() -> None:
    earlier = [Flow(f"2025-{n:02d}", n, 0) for n in range(1, 13)] + [
        Flow(f"2026-{n:02d}", n, 0) for n in range(1, 11)
    ]
    facts = PageFacts(merchant_name="Lakeside Rentals", earlier={"CNY": earlier})

    [bill] = bill_view(november(SHOP), facts).currencies

    labels = [p.label for p in bill.months]
    assert (labels[0], labels[-1]) == ("2025-12", "2026-11")
    assert len(bill.months) == 12 and bill.months[-1].money_in.minor == 90_000


def test_a_currency_without_decimals_is_printed_without_them() -> None:
    assert money_text(123_456, "JPY", "zh") == "JP¥123,456"
    assert money_text(-5, "CNY", "en") == "-CN¥0.05"


def test_the_page_has_no_ledger_words() -> None:
    for lang in ("zh", "en"):
        html = render_html(bill_view(november(SHOP), FACTS, lang=lang))
        visible = re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S))
        for jargon in ("debit", "credit", "posted", "pending", "ledger", "journal", "acct_"):
            assert jargon not in visible.lower(), (lang, jargon)


def test_the_page_shows_the_figures_and_both_charts() -> None:
    html = render_html(bill_view(november(SHOP), FACTS))

    for figure in ("¥1,485.00", "¥900.00", "¥129.00", "¥2,256.00", "¥9.00", "张*", "1.00%"):
        assert figure in html
    assert html.count("<svg") == 2
    assert 'data-amount="60000"' in html  # the 1st's money in is a bar


def test_bars_are_integer_pixels_in_proportion_to_the_money() -> None:
    svg = daily_chart([Flow("2026-11-01", 10_000, 2_500), Flow("2026-11-02", 0, 0)], "CNY", "zh")
    heights = [int(h) for h in re.findall(r'<rect x="\d+" y="\d+" width="\d+" height="(\d+)"', svg)]
    # legend squares first (12 px), then in/out per day
    assert heights[2:] == [152, 38, 0, 0]  # of a 152-pixel plot
    assert 'width="480" height="200"' in svg


def test_month_labels_are_in_the_bill_language() -> None:
    flows = [Flow("2026-10", 1, 0), Flow("2026-11", 2, 0)]
    assert ">10月<" in months_chart(flows, "CNY", "zh")
    assert ">Nov<" in months_chart(flows, "CNY", "en")


@given(st.integers(min_value=0, max_value=10**15))
def test_the_axis_top_covers_the_largest_bar_in_at_most_five_round_steps(largest: int) -> None:
    top, step = nice_top(largest)

    assert top >= largest and top % step == 0 and 1 <= top // step <= 5
    assert str(step).strip("0") in ("1", "2", "5")


movements = st.lists(
    st.builds(
        Movement,
        account_id=st.just(WALLET),
        category=st.sampled_from(list(Category)),
        amount_in=st.integers(min_value=0, max_value=10**12),
        amount_out=st.integers(min_value=0, max_value=10**12),
        count=st.integers(min_value=1, max_value=1_000),
    ),
    max_size=12,
)


@given(st.integers(min_value=0, max_value=10**12), movements)
def test_every_bill_adds_up_and_every_unit_of_money_is_on_one_of_its_lines(
    opening: int, moved: list[Movement]
) -> None:
    [bill] = bill_view(november(wallet(opening, moved)), PageFacts("Shop"), lang="en").currencies

    assert bill.closing.minor == bill.opening.minor + bill.money_in.minor - bill.money_out.minor
    fee_in = sum(m.amount_in for m in moved if m.category is Category.FEE)
    fee_out = sum(m.amount_out for m in moved if m.category is Category.FEE)
    assert sum(line.amount.minor for line in bill.came_in) + fee_in == bill.money_in.minor
    assert sum(line.amount.minor for line in bill.went_out) + fee_out == bill.money_out.minor
    assert bill.fees.minor == fee_out - fee_in
    assert bill.months[-1].money_in == bill.money_in
