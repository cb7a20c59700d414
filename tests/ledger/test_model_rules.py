"""The ledger's pure vocabulary rules (model.py), called directly: no database.

Who may move or change which account, what `available` means for each kind of account,
which transfers may land in a frozen account, and how metadata is measured.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore import limits
from paycore.ledger.model import (
    AccountFlags,
    AccountOrigin,
    AccountState,
    AccountStatus,
    Caller,
    TransferFlags,
    TransferRequest,
    check_account_flags,
    flag_names,
    is_reserved_id,
    metadata_too_large,
    status_change_refusal,
    takes_bank_confirmed,
)

F = TransferFlags
FLOW, API = AccountOrigin.FLOW, AccountOrigin.API
ACTIVE, FROZEN, CLOSED = AccountStatus.ACTIVE, AccountStatus.FROZEN, AccountStatus.CLOSED
PLATFORM = Caller(merchant_id=None)
MERCHANT = Caller(merchant_id="m1")


def account(
    flags: int = 0,
    *,
    origin: AccountOrigin = FLOW,
    owner_id: str | None = None,
    dp: int = 0,
    dpo: int = 0,
    cp: int = 0,
    cpo: int = 0,
) -> AccountState:
    return AccountState(
        id="acct_x",
        currency="CNY",
        flags=flags,
        status=ACTIVE,
        owner_id=owner_id,
        origin=origin,
        debits_pending=dp,
        debits_posted=dpo,
        credits_pending=cp,
        credits_posted=cpo,
    )


# -- flags ----------------------------------------------------------------------------------


def test_flag_names_lists_each_set_flag_in_lower_case_in_declaration_order() -> None:
    flags = F.LINKED | F.POST_PENDING | F.BALANCING_CREDIT

    assert flag_names(TransferFlags, flags) == ["linked", "post_pending", "balancing_credit"]


def test_flag_names_of_no_flags_is_empty() -> None:
    assert flag_names(AccountFlags, 0) == []
    assert flag_names(TransferFlags, 0) == []


def test_flag_names_of_one_account_flag_names_only_it() -> None:
    assert flag_names(AccountFlags, 2) == ["credits_must_not_exceed_debits"]


def test_both_balance_limits_on_one_account_are_mutually_exclusive() -> None:
    both = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS

    assert check_account_flags(both) == "flags_are_mutually_exclusive"


@pytest.mark.parametrize(
    "flags",
    [
        AccountFlags.NONE,
        AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
    ],
)
def test_one_balance_limit_or_none_is_a_valid_account(flags: AccountFlags) -> None:
    assert check_account_flags(flags) is None


# -- balances -------------------------------------------------------------------------------


def test_a_credit_normal_account_has_its_posted_credits_less_all_debits_available() -> None:
    # 1000 in, 200 out, 50 held out; held credits (30) are not yet there to spend.
    a = account(dp=50, dpo=200, cp=30, cpo=1000)

    assert a.available == 1000 - 200 - 50


def test_a_debit_normal_account_has_its_posted_debits_less_all_credits_available() -> None:
    # An account limited to the debits it paid out: 1000 out, 200 back, 50 held back.
    a = account(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS, dp=30, dpo=1000, cp=50, cpo=200)

    assert a.available == 1000 - 200 - 50


def test_balances_are_debits_pending_debits_posted_credits_pending_credits_posted() -> None:
    assert account(dp=1, dpo=2, cp=3, cpo=4).balances() == (1, 2, 3, 4)


# -- metadata size ---------------------------------------------------------------------------


def _padded(size: int, char: str = "a") -> dict[str, str]:
    """Metadata whose compact JSON is exactly `size` bytes: {"k":"<pad>"} is 8 bytes + pad."""
    pad = (size - 8) // len(char.encode())
    return {"k": char * pad}


def test_metadata_of_exactly_the_maximum_size_is_accepted() -> None:
    metadata = _padded(limits.METADATA_BYTES_MAX)
    assert len(json.dumps(metadata, separators=(",", ":")).encode()) == limits.METADATA_BYTES_MAX

    assert not metadata_too_large(metadata)


def test_metadata_one_byte_over_the_maximum_is_too_large() -> None:
    assert metadata_too_large(_padded(limits.METADATA_BYTES_MAX + 1))


def test_metadata_size_is_measured_compact_without_the_spaces_json_adds_by_default() -> None:
    # Two keys: default separators would add ", " and ": " (3 bytes) and push it over.
    metadata = {"a": "1", "k": "x" * (limits.METADATA_BYTES_MAX - 16)}
    assert len(json.dumps(metadata, separators=(",", ":")).encode()) == limits.METADATA_BYTES_MAX

    assert not metadata_too_large(metadata)


def test_metadata_size_counts_utf8_bytes_not_escapes() -> None:
    # "é" is 2 bytes in UTF-8 but 6 as the escape \u00e9: the stored form is UTF-8.
    metadata = _padded(limits.METADATA_BYTES_MAX, "é")
    assert len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode()) == (
        limits.METADATA_BYTES_MAX
    )

    assert not metadata_too_large(metadata)
    assert metadata_too_large({"k": metadata["k"] + "é"})


# -- which transfers a frozen account takes ------------------------------------------------------


def confirmed(flags: int = 0, bank_confirmed: bool = True) -> TransferRequest:
    return TransferRequest(id="t1", flags=flags, bank_confirmed=bank_confirmed)


def test_a_bank_confirmed_plain_transfer_out_of_a_system_account_may_credit_a_frozen_one() -> None:
    assert takes_bank_confirmed(confirmed(), account())


def test_a_linked_bank_confirmed_transfer_is_still_plain() -> None:
    assert takes_bank_confirmed(confirmed(F.LINKED), account())


def test_a_transfer_not_marked_bank_confirmed_may_not_credit_a_frozen_account() -> None:
    assert not takes_bank_confirmed(confirmed(bank_confirmed=False), account())


@pytest.mark.parametrize("flag", [F.PENDING, F.BALANCING_DEBIT, F.BALANCING_CREDIT])
def test_a_hold_or_balancing_transfer_may_not_credit_a_frozen_account(flag: F) -> None:
    assert not takes_bank_confirmed(confirmed(flag), account())


def test_money_out_of_an_owned_flow_account_may_not_credit_a_frozen_account() -> None:
    assert not takes_bank_confirmed(confirmed(), account(owner_id="m1"))


def test_money_out_of_an_api_account_may_not_credit_a_frozen_account() -> None:
    assert not takes_bank_confirmed(confirmed(), account(origin=API))


# -- who reaches which account --------------------------------------------------------------------


def test_the_platform_reaches_every_api_account_and_no_flow_account() -> None:
    assert PLATFORM.reaches(account(origin=API, owner_id="m1"))
    assert PLATFORM.reaches(account(origin=API))
    assert not PLATFORM.reaches(account(origin=FLOW))
    assert not PLATFORM.reaches(account(origin=FLOW, owner_id="m1"))


def test_a_merchant_reaches_only_its_own_api_accounts() -> None:
    assert MERCHANT.reaches(account(origin=API, owner_id="m1"))
    assert not MERCHANT.reaches(account(origin=API, owner_id="m2"))
    assert not MERCHANT.reaches(account(origin=API))
    assert not MERCHANT.reaches(account(origin=FLOW, owner_id="m1"))


@given(owner=st.none() | st.text(max_size=8))
def test_the_platform_sees_every_owner(owner: str | None) -> None:
    assert PLATFORM.sees(owner)


@given(owner=st.none() | st.text(max_size=8))
def test_a_merchant_sees_only_itself(owner: str | None) -> None:
    assert MERCHANT.sees(owner) is (owner == "m1")


# -- who may change an account's status ------------------------------------------------------------


FLOW_REFUSAL = ("account_owned_by_flow", "this account belongs to a paycore flow")


@pytest.mark.parametrize("status", [ACTIVE, FROZEN, CLOSED])
def test_no_key_changes_a_system_account(status: AccountStatus) -> None:
    system = account(origin=FLOW)

    assert status_change_refusal(PLATFORM, system, status) == FLOW_REFUSAL
    assert status_change_refusal(MERCHANT, system, status) == FLOW_REFUSAL


@pytest.mark.parametrize("status", [ACTIVE, FROZEN, CLOSED])
def test_a_merchant_key_changes_no_flow_account_even_its_own(status: AccountStatus) -> None:
    own_wallet = account(origin=FLOW, owner_id="m1")

    assert status_change_refusal(MERCHANT, own_wallet, status) == FLOW_REFUSAL


@pytest.mark.parametrize("status", [ACTIVE, FROZEN])
def test_the_platform_may_freeze_and_unfreeze_a_merchants_flow_account(
    status: AccountStatus,
) -> None:
    assert status_change_refusal(PLATFORM, account(origin=FLOW, owner_id="m1"), status) is None


def test_the_platform_may_not_close_a_merchants_flow_account() -> None:
    wallet = account(origin=FLOW, owner_id="m1")

    assert status_change_refusal(PLATFORM, wallet, CLOSED) == FLOW_REFUSAL


@pytest.mark.parametrize("status", [FROZEN, CLOSED])
def test_a_merchant_may_freeze_or_close_its_api_account(status: AccountStatus) -> None:
    assert status_change_refusal(MERCHANT, account(origin=API, owner_id="m1"), status) is None


def test_a_merchant_may_not_make_its_api_account_active_again() -> None:
    refusal = status_change_refusal(MERCHANT, account(origin=API, owner_id="m1"), ACTIVE)

    assert refusal == (
        "unfreeze_needs_platform_key",
        "only the platform makes an account active again",
    )


@pytest.mark.parametrize("status", [ACTIVE, FROZEN, CLOSED])
def test_the_platform_may_set_any_status_on_an_api_account(status: AccountStatus) -> None:
    assert status_change_refusal(PLATFORM, account(origin=API, owner_id="m1"), status) is None


# -- reserved ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("object_id", ["acct_mw_m1_CNY", "acct_suspense_CNY", "tr_pay_o1_in"])
def test_ids_in_a_flows_namespace_are_reserved(object_id: str) -> None:
    assert is_reserved_id(object_id)


@pytest.mark.parametrize("object_id", ["acct_mine", "acct_mwx", "tr_1", "x_acct_mw_m1"])
def test_ids_outside_every_flows_namespace_are_free(object_id: str) -> None:
    assert not is_reserved_id(object_id)
