"""The pure rules of rewards/model.py: derived ids, amounts, row numbers and outcomes.

Ids are recomputed here with hashlib from the derivation written out by hand, so a
changed separator, prefix, part or digest size is caught.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore import limits
from paycore.errors import Rejected
from paycore.ledger.model import RESULTS
from paycore.rewards.model import (
    RawRow,
    RowStatus,
    budget_account,
    check_name,
    fund_transfer_id,
    outcome_of,
    parse_amount,
    plausible_recipients,
    reward_transfer_id,
    withdraw_transfer_id,
)


def blake(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


# -- derived ids ------------------------------------------------------------------------------


def test_a_budget_account_is_the_hash_of_the_merchant_and_the_budget() -> None:
    assert budget_account("m_1", "spring") == "acct_rb_" + blake("budget|m_1|spring")


def test_funding_and_withdrawal_ids_are_hashes_of_their_reference() -> None:
    assert fund_transfer_id("m_1", "spring", "r-1") == "tr_rbf_" + blake("fund|m_1|spring|r-1")
    assert withdraw_transfer_id("m_1", "spring", "r-1") == "tr_rbw_" + blake(
        "withdraw|m_1|spring|r-1"
    )


def test_a_reward_id_is_the_hash_of_the_batch_row_and_attempt() -> None:
    assert reward_transfer_id("m_1", "b1", 7, 2) == "tr_rw_" + blake("reward|m_1|b1|7|2")


@given(
    merchant=st.from_regex(r"m_[a-z0-9]{1,8}", fullmatch=True),
    budget=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", fullmatch=True),
)
def test_derived_ids_fit_the_ledgers_64_characters(merchant: str, budget: str) -> None:
    ids = [
        budget_account(merchant, budget),
        fund_transfer_id(merchant, budget, "r" * 64),
        withdraw_transfer_id(merchant, budget, "r" * 64),
        reward_transfer_id(merchant, budget, 10**9, 99),
    ]
    assert all(len(i) <= 64 for i in ids)
    assert len(set(ids)) == 4


@pytest.mark.parametrize("value", ["a", "Spring-2026_v1.2", "x" * 64])
def test_a_merchant_chosen_name_of_1_to_64_safe_characters_is_accepted(value: str) -> None:
    check_name("budget", value)


@pytest.mark.parametrize(("kind", "value"), [("budget", ""), ("batch", "x" * 65), ("batch", "_a")])
def test_a_malformed_name_is_refused_with_a_code_naming_its_kind(kind: str, value: str) -> None:
    with pytest.raises(Rejected) as refused:
        check_name(kind, value)
    assert refused.value.code == f"invalid_{kind}_id"
    # The code is built from the kind, so the detail is checked too: it states the rule.
    assert refused.value.detail.startswith(f"{kind} id is 1-64 letters")


# -- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        (1, 1),
        ("1", 1),
        ("007", 7),
        (limits.PAYMENT_AMOUNT_MAX, limits.PAYMENT_AMOUNT_MAX),
        (str(limits.PAYMENT_AMOUNT_MAX), limits.PAYMENT_AMOUNT_MAX),
    ],
)
def test_a_positive_whole_number_of_minor_units_up_to_the_payment_limit_is_an_amount(
    value: object, amount: int
) -> None:
    assert parse_amount(value) == amount


@pytest.mark.parametrize(
    "value",
    [
        0,
        "0",
        -3,
        "-3",
        limits.PAYMENT_AMOUNT_MAX + 1,
        str(limits.PAYMENT_AMOUNT_MAX + 1),
        "1.5",
        1.0,
        True,
        False,
        "",
        " 1",
        "abc",
        None,
        "1" * 19,  # more digits than any amount has
    ],
)
def test_anything_else_is_no_amount(value: object) -> None:
    assert parse_amount(value) is None


# -- recipients worth looking up -----------------------------------------------------------------


def raw(recipient: object, position: int = 1) -> RawRow:
    return RawRow(position=position, row=None, recipient=recipient, amount="1", currency=None,
                  note=None)  # fmt: skip


def test_only_well_formed_owner_names_are_looked_up() -> None:
    rows = [raw("bad owner"), raw(5), raw(None), raw("ann"), raw("ben"), raw("ann")]
    assert plausible_recipients(rows) == {"ann", "ben"}


# -- ledger answers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        ("created", (RowStatus.PAID, None, False)),
        ("exists", (RowStatus.PAID, None, False)),  # a re-run finds the row paid
        ("exceeds_credits", (RowStatus.FAILED, "budget_exhausted", True)),
        ("id_already_failed", (RowStatus.FAILED, "attempt_failed", True)),
        ("account_frozen", (RowStatus.FAILED, "account_frozen", True)),
        ("credit_account_not_found", (RowStatus.FAILED, "credit_account_not_found", True)),
        ("exists_with_different_amount", (RowStatus.FAILED, "exists_with_different_amount", False)),
        ("amount_must_not_exceed_max", (RowStatus.FAILED, "amount_must_not_exceed_max", False)),
    ],
)
def test_a_rows_outcome_follows_the_ledgers_answer(
    result: str, outcome: tuple[str, str | None, bool]
) -> None:
    assert outcome_of(result) == outcome


@pytest.mark.parametrize("result", sorted(set(RESULTS) - {"created", "exists"}))
def test_every_other_answer_fails_the_row_with_a_reason(result: str) -> None:
    status, reason, _retryable = outcome_of(result)
    assert status == RowStatus.FAILED and reason
