"""The wallet rules called directly: owner references at their edges, the ledger account
ids derived independently here with hashlib (a changed derivation would orphan every
wallet's money), and repayment never above the debt or what the wallet holds."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.wallets import model


def _blake(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@pytest.mark.parametrize("owner", ["u", "U1", "9", "a.b_c-d", "a" * 32])
def test_an_owner_reference_starts_with_a_letter_or_digit_and_has_up_to_32_characters(
    owner: str,
) -> None:
    model.check_owner(owner)


@pytest.mark.parametrize("owner", ["", "a" * 33, "_u", ".u", "-u", "u 1", "u:1", "u\n", "ü"])
def test_an_owner_reference_outside_the_rules_is_refused_as_invalid_owner(owner: str) -> None:
    with pytest.raises(Rejected) as refused:
        model.check_owner(owner)

    assert refused.value.code == "invalid_owner"


def test_a_users_ledger_owner_is_scoped_by_its_merchant() -> None:
    assert model.ledger_owner("m1", "u1") == "m1:u1"


def test_a_wallets_account_id_is_a_blake2b_of_its_kind_merchant_owner_and_currency() -> None:
    assert model.wallet_account("m1", "u1", "CNY") == "acct_uw_" + _blake("wallet|m1|u1|CNY")


def test_a_receivables_account_id_is_a_blake2b_of_its_kind_merchant_owner_and_currency() -> None:
    expected = "acct_ur_" + _blake("receivable|m1|u1|CNY")

    assert model.receivable_account("m1", "u1", "CNY") == expected
    assert len(expected) == 8 + 24


PARTS = st.tuples(
    st.sampled_from(["m1", "m2", "shop"]),
    st.sampled_from(["u1", "u2", "m1"]),
    st.sampled_from(["CNY", "USD"]),
)


@given(a=PARTS, b=PARTS)
def test_two_users_or_currencies_never_share_an_account_and_wallets_never_meet_receivables(
    a: tuple[str, str, str], b: tuple[str, str, str]
) -> None:
    assert (model.wallet_account(*a) == model.wallet_account(*b)) is (a == b)
    assert (model.receivable_account(*a) == model.receivable_account(*b)) is (a == b)
    assert model.wallet_account(*a) != model.receivable_account(*b)


@pytest.mark.parametrize(
    ("available", "debt", "repaid"),
    [(100, 30, 30), (30, 100, 30), (50, 50, 50), (0, 10, 0), (-20, 10, 0), (10, 0, 0)],
)
def test_a_debt_is_repaid_with_all_the_wallet_has_but_never_more_than_owed(
    available: int, debt: int, repaid: int
) -> None:
    assert model.repayable(available, debt) == repaid
