"""A wallet owner is the merchant's key for its user, shown as sent in answers, statements
and bills: one holding a person's card, ID or mobile number is refused, never masked."""

from __future__ import annotations

import pytest

from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.wallets import model
from paycore.wallets.service import Wallets
from tests.security.test_pii_fuzz import luhn_completed

CARD = luhn_completed("621700001000123456")
ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"


@pytest.mark.parametrize("owner", [CARD, ID_NUMBER, MOBILE, f"u-{MOBILE}", "tel.139-1234-5678"])
def test_an_owner_holding_a_personal_number_is_refused_without_quoting_it(owner: str) -> None:
    with pytest.raises(Rejected) as refused:
        model.check_owner(owner)

    assert refused.value.code == "identifier_has_personal_data"
    assert owner not in refused.value.detail


NOT_LUHN = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)


@pytest.mark.parametrize("owner", ["u-20261206", "1391234567", NOT_LUHN])
def test_an_owner_with_numbers_that_are_not_personal_is_accepted(owner: str) -> None:
    model.check_owner(owner)


def test_no_wallet_is_opened_for_an_owner_holding_a_mobile_number(ledger: Ledger) -> None:
    wallets = Wallets(ledger)

    with pytest.raises(Rejected) as refused:
        wallets.open("m1", MOBILE, "CNY")

    assert refused.value.code == "identifier_has_personal_data"
    assert wallets.find("m1", MOBILE, "CNY") is None
