"""Budget and batch ids are the merchant's keys, shown as sent: one holding a card, ID or
mobile number is refused. A budget's name is free text: masked when saved."""

from __future__ import annotations

import pytest

from paycore.errors import Rejected
from paycore.rewards.model import BudgetBalance, check_name
from paycore.security.masking import mask_phone
from tests.rewards.conftest import Shop, csv_of
from tests.security.test_pii_fuzz import luhn_completed

CARD = luhn_completed("621700001000123456")
ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"


@pytest.mark.parametrize("kind", ["budget", "batch"])
@pytest.mark.parametrize("value", [CARD, ID_NUMBER, f"promo-{MOBILE}"])
def test_an_id_holding_a_personal_number_is_refused_without_quoting_it(
    kind: str, value: str
) -> None:
    with pytest.raises(Rejected) as refused:
        check_name(kind, value)

    assert refused.value.code == "identifier_has_personal_data"
    assert value not in refused.value.detail


def test_a_budget_is_not_created_under_an_id_holding_a_mobile_number(shop: Shop) -> None:
    with pytest.raises(Rejected) as refused:
        shop.budget(f"b-{MOBILE}")

    assert refused.value.code == "identifier_has_personal_data"


def test_a_batch_naming_a_budget_id_holding_a_mobile_number_is_refused(shop: Shop) -> None:
    with pytest.raises(Rejected) as refused:
        shop.pay_csv(csv_of([("u1", "1.00")]), budget_id=MOBILE)

    assert refused.value.code == "identifier_has_personal_data"


def test_a_budget_name_is_saved_with_its_personal_numbers_masked(shop: Shop) -> None:
    def create() -> BudgetBalance:
        return shop.rewards.create_budget(
            shop.merchant_id,
            "spring",
            name=f"for {MOBILE}",
            currency="CNY",
            row_amount_max=100,
            recipient_total_max=100,
        )

    created = create()
    again = create()  # the same terms again: a no-op, not budget_exists

    assert created.budget.name == f"for {mask_phone(MOBILE)}"
    assert again == created
