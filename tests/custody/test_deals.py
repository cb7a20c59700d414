"""Deposit -> commission (定转佣): matching receipts to deals and closing them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from paycore.custody.bookkeeping import subaccount_id
from paycore.custody.model import ReceiptStatus, RestTo, Role
from paycore.errors import Rejected
from paycore.ledger.model import AccountStatus
from tests.custody.conftest import Desk
from tests.custody.test_cutoff import MIDNIGHT


def funded_deal(desk: Desk, deposit: int = 100_000) -> str:
    payin = desk.pay("buyer-1", deposit)
    deal = desk.runtime.custody.create_deal(
        desk.merchant_id,
        bank="sandbox_custody",
        buyer="buyer-1",
        seller="seller-1",
        agency="agency-1",
        deposit_amount=deposit,
    )
    desk.runtime.custody.match(desk.merchant_id, receipt_id=payin, deal_id=deal.id)
    return deal.id


def balances(desk: Desk) -> tuple[int, int, int]:
    return (desk.balance("buyer-1"), desk.balance("seller-1"), desk.balance("agency-1"))


def test_closing_a_deal_pays_the_agency_its_commission_and_the_seller_the_rest(
    desk: Desk,
) -> None:
    deal_id = funded_deal(desk)

    closed = desk.runtime.custody.close_deal(
        desk.merchant_id, deal_id=deal_id, commission=20_000, rest_to=RestTo.SELLER
    )
    again = desk.runtime.custody.close_deal(
        desk.merchant_id, deal_id=deal_id, commission=20_000, rest_to=RestTo.SELLER
    )

    assert closed.status == "closed" and again == closed
    assert balances(desk) == (0, 80_000, 20_000)
    assert desk.runtime.ledger.check().ok


def test_a_deal_closed_with_the_rest_to_the_buyer_leaves_it_in_the_buyers_subaccount(
    desk: Desk,
) -> None:
    deal_id = funded_deal(desk)

    desk.runtime.custody.close_deal(
        desk.merchant_id, deal_id=deal_id, commission=5_000, rest_to=RestTo.BUYER
    )

    assert balances(desk) == (95_000, 0, 5_000)


def test_when_one_leg_of_the_close_fails_nothing_moves_and_the_deal_stays_open(
    desk: Desk,
) -> None:
    deal_id = funded_deal(desk)
    bank = desk.runtime.custody.bank("sandbox_custody")
    agency_account = subaccount_id(bank, desk.merchant_id, "agency-1")
    desk.runtime.ledger.set_account_status(agency_account, AccountStatus.FROZEN)

    with pytest.raises(Rejected) as refused:
        desk.runtime.custody.close_deal(
            desk.merchant_id, deal_id=deal_id, commission=20_000, rest_to=RestTo.SELLER
        )

    assert refused.value.code == "deal_close_failed"
    assert "account_frozen" in refused.value.detail
    assert balances(desk) == (100_000, 0, 0)
    assert desk.runtime.custody.get_deal(desk.merchant_id, deal_id).status == "open"

    # Unfrozen, the next attempt uses new transfer ids (the failed ones stay failed).
    desk.runtime.ledger.set_account_status(agency_account, AccountStatus.ACTIVE)
    desk.runtime.custody.close_deal(
        desk.merchant_id, deal_id=deal_id, commission=20_000, rest_to=RestTo.SELLER
    )
    assert balances(desk) == (0, 80_000, 20_000)


def test_when_the_rest_leg_fails_the_commission_leg_does_not_land_either(desk: Desk) -> None:
    deal_id = funded_deal(desk)
    bank = desk.runtime.custody.bank("sandbox_custody")
    desk.runtime.ledger.set_account_status(
        subaccount_id(bank, desk.merchant_id, "seller-1"), AccountStatus.FROZEN
    )

    with pytest.raises(Rejected) as refused:
        desk.runtime.custody.close_deal(
            desk.merchant_id, deal_id=deal_id, commission=1, rest_to=RestTo.SELLER
        )

    assert refused.value.code == "deal_close_failed"
    assert balances(desk) == (100_000, 0, 0)


@pytest.mark.parametrize(
    ("commission", "code"), [(-1, "invalid_commission"), (100_001, "invalid_commission")]
)
def test_a_commission_outside_the_deposit_is_refused(
    desk: Desk, commission: int, code: str
) -> None:
    deal_id = funded_deal(desk)

    with pytest.raises(Rejected) as refused:
        desk.runtime.custody.close_deal(
            desk.merchant_id, deal_id=deal_id, commission=commission, rest_to=RestTo.SELLER
        )

    assert refused.value.code == code
    assert balances(desk) == (100_000, 0, 0)


def test_a_deal_whose_deposit_is_not_fully_matched_cannot_close(desk: Desk) -> None:
    deal = desk.runtime.custody.create_deal(
        desk.merchant_id,
        bank="sandbox_custody",
        buyer="buyer-1",
        seller="seller-1",
        agency="agency-1",
        deposit_amount=100_000,
    )
    payin = desk.pay("buyer-1", 60_000)
    desk.runtime.custody.match(desk.merchant_id, receipt_id=payin, deal_id=deal.id)

    with pytest.raises(Rejected) as refused:
        desk.runtime.custody.close_deal(
            desk.merchant_id, deal_id=deal.id, commission=0, rest_to=RestTo.SELLER
        )

    assert refused.value.code == "deal_not_funded"


def test_matching_is_refused_for_another_payer_more_than_the_deposit_or_after_cutoff(
    desk: Desk,
) -> None:
    deal = desk.runtime.custody.create_deal(
        desk.merchant_id,
        bank="sandbox_custody",
        buyer="buyer-1",
        seller="seller-1",
        agency="agency-1",
        deposit_amount=10_000,
    )
    stranger = desk.pay("buyer-9", 10_000)
    too_much = desk.pay("buyer-1", 10_001)
    late = desk.pay("buyer-1", 5_000)
    custody = desk.runtime.custody

    codes = []
    for receipt_id in (stranger, too_much):
        with pytest.raises(Rejected) as refused:
            custody.match(desk.merchant_id, receipt_id=receipt_id, deal_id=deal.id)
        codes.append(refused.value.code)
    desk.move_to(MIDNIGHT + timedelta(seconds=1))
    with pytest.raises(Rejected) as past:
        custody.match(desk.merchant_id, receipt_id=late, deal_id=deal.id)

    assert codes == ["receipt_not_from_buyer", "deposit_exceeded"]
    assert past.value.code == "receipt_past_cutoff"
    assert desk.receipt(too_much).status is ReceiptStatus.UNMATCHED
    assert custody.get_deal(desk.merchant_id, deal.id).funded_amount == 0


def test_another_merchant_sees_neither_the_receipts_nor_the_deals(desk: Desk) -> None:
    deal_id = funded_deal(desk)
    receipt_id = desk.runtime.custody.receipts(desk.merchant_id)[0].id
    other, _ = desk.runtime.merchants.create(name="Other", fee_bps=0)

    with pytest.raises(Rejected) as no_deal:
        desk.runtime.custody.get_deal(other.id, deal_id)
    with pytest.raises(Rejected) as no_receipt:
        desk.runtime.custody.get_receipt(other.id, receipt_id)

    assert (no_deal.value.code, no_receipt.value.code) == ("deal_not_found", "receipt_not_found")
    assert desk.runtime.custody.receipts(other.id) == []


def test_a_subaccount_opened_again_with_another_role_is_refused(desk: Desk) -> None:
    custody = desk.runtime.custody
    first = custody.open_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner="seller-1", role=Role.SELLER
    )
    again = custody.open_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner="seller-1", role=Role.SELLER
    )

    with pytest.raises(Rejected) as refused:
        custody.open_subaccount(
            desk.merchant_id, bank="sandbox_custody", owner="seller-1", role=Role.AGENCY
        )

    assert first == again
    assert first.virtual_account.startswith("6228") and len(first.virtual_account) == 20
    assert refused.value.code == "subaccount_exists_with_different_role"


def test_a_virtual_account_number_is_unique_per_bank(desk: Desk) -> None:
    custody = desk.runtime.custody
    custody.open_subaccount(
        desk.merchant_id,
        bank="sandbox_custody",
        owner="seller-1",
        role=Role.SELLER,
        virtual_account="62280000000000000001",
    )

    with pytest.raises(Rejected) as refused:
        custody.open_subaccount(
            desk.merchant_id,
            bank="sandbox_custody",
            owner="seller-2",
            role=Role.SELLER,
            virtual_account="62280000000000000001",
        )

    assert refused.value.code == "virtual_account_exists"
