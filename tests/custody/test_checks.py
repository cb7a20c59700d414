"""Light custody (轻存管): the pool equals the sum of the sub-accounts, and the daily
check proves it or shows the difference. Also the banks' configuration and business days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.custody.bookkeeping import subaccount_id
from paycore.custody.model import (
    CustodyBank,
    Mode,
    RestTo,
    business_date_of,
    day_window,
    parse_banks,
)
from paycore.errors import Rejected
from paycore.ledger.model import TransferRequest
from paycore.payments import bookkeeping as books
from tests.custody.conftest import Desk
from tests.custody.test_cutoff import DAY, MIDNIGHT

LIGHT = "pool_bank"


def test_the_light_banks_pool_equals_its_subaccounts_through_landing_closing_and_cutoff(
    desk: Desk,
) -> None:
    custody = desk.runtime.custody
    kept = desk.pay("buyer-1", 100_000, product="rent_deposit")
    desk.pay("buyer-2", 7_000, product="rent_deposit")  # unmatched: refunded at the cut-off
    deal = custody.create_deal(
        desk.merchant_id,
        bank=LIGHT,
        buyer="buyer-1",
        seller="seller-1",
        agency="agency-1",
        deposit_amount=100_000,
    )
    custody.match(desk.merchant_id, receipt_id=kept, deal_id=deal.id)
    custody.close_deal(desk.merchant_id, deal_id=deal.id, commission=3_000, rest_to=RestTo.SELLER)
    desk.move_to(MIDNIGHT)
    custody.run_cutoff(LIGHT, DAY)

    check = custody.daily_check(LIGHT, DAY)
    with_bank = custody.daily_check(LIGHT, DAY, bank_balance=100_000)

    assert custody.bank(LIGHT).mode is Mode.LIGHT
    assert (check.subaccounts_total, check.pool_balance, check.ok) == (100_000, 100_000, True)
    assert with_bank.ok and with_bank.difference == 0
    assert [c.id for c in custody.checks(LIGHT)] == [with_bank.id, check.id]


def test_the_check_shows_a_bank_balance_that_differs(desk: Desk) -> None:
    desk.pay("buyer-1", 50_000, product="rent_deposit")

    check = desk.runtime.custody.daily_check(LIGHT, DAY, bank_balance=49_990)

    assert not check.ok
    assert check.difference == -10
    assert check.pool_balance == check.subaccounts_total == 50_000


def test_the_check_finds_money_put_into_a_subaccount_behind_the_pools_back(
    desk: Desk,
) -> None:
    desk.pay("buyer-1", 50_000, product="rent_deposit")
    desk.pay("shopper", 1_000, product="goods")  # not custody: stays in the merchant wallet
    bank = desk.runtime.custody.bank(LIGHT)
    # A transfer that skips the pool's leg: what a bug or a manual posting would do.
    [result] = desk.runtime.ledger.create_transfers(
        [
            TransferRequest(
                id="tr_test_side_door",
                debit_account_id=books.wallet_account(desk.merchant_id, "CNY"),
                credit_account_id=subaccount_id(bank, desk.merchant_id, "buyer-1"),
                amount=100,
                currency="CNY",
            )
        ]
    )
    assert result.result == "created"

    check = desk.runtime.custody.daily_check(LIGHT, DAY)

    assert not check.ok
    assert (check.subaccounts_total, check.pool_balance) == (50_000 + 100, 50_000)


def test_the_check_is_as_of_the_end_of_the_business_day(desk: Desk) -> None:
    desk.pay("buyer-1", 10_000, product="rent_deposit")
    desk.move_to(MIDNIGHT + timedelta(hours=1))
    desk.pay("buyer-2", 20_000, product="rent_deposit")  # tomorrow's

    check = desk.runtime.custody.daily_check(LIGHT, DAY)

    assert (check.subaccounts_total, check.pool_balance, check.ok) == (10_000, 10_000, True)


# -- configuration and business days ---------------------------------------------------------

BANK = {"name": "b1", "products": ["deposit"], "currency": "CNY"}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"name": "B 1"}, "invalid_bank_name"),
        ({"timezone": "Mars/Olympus"}, "unknown_timezone"),
        ({"cutoff": "24:30"}, "invalid_cutoff"),
        ({"cutoff": "7pm"}, "invalid_cutoff"),
        ({"mode": "heavy"}, "invalid_custody_mode"),
        ({"currency": "XXQ"}, "unknown_currency"),
        ({"products": []}, "invalid_custody_products"),
        ({"colour": "red"}, "invalid_custody_config"),
    ],
)
def test_a_bank_configuration_outside_the_rules_is_refused_with_its_code(
    change: dict[str, object], code: str
) -> None:
    with pytest.raises(Rejected) as refused:
        parse_banks({"banks": [{**BANK, **change}]})

    assert refused.value.code == code


def test_one_product_lands_in_one_bank_only() -> None:
    with pytest.raises(Rejected) as refused:
        parse_banks({"banks": [BANK, {**BANK, "name": "b2"}]})

    assert refused.value.code == "custody_product_twice"


def test_a_bank_gets_the_default_zone_and_cutoff() -> None:
    [bank] = parse_banks({"banks": [BANK]})

    assert (bank.timezone, bank.cutoff, bank.mode) == ("Asia/Shanghai", "24:00", Mode.FULL)


@given(
    at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["Asia/Shanghai", "Europe/London", "America/New_York", "UTC"]),
    cutoff=st.sampled_from(["24:00", "23:30", "17:00", "00:01"]),
)
def test_every_instant_belongs_to_exactly_the_business_day_whose_window_holds_it(
    at: datetime, zone: str, cutoff: str
) -> None:
    bank = CustodyBank(name="b1", currency="CNY", products=("p",), timezone=zone, cutoff=cutoff)

    day = business_date_of(bank, at)
    start, end = day_window(bank, day)

    assert start <= at < end
    assert day_window(bank, day + timedelta(days=1))[0] == end


def test_the_shanghai_day_runs_from_local_midnight_to_the_next() -> None:
    bank = CustodyBank(name="b1", currency="CNY", products=("p",))

    start, end = day_window(bank, date(2026, 3, 10))

    assert start == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    assert business_date_of(bank, end - timedelta(milliseconds=1)) == date(2026, 3, 10)
    assert business_date_of(bank, end) == date(2026, 3, 11)
