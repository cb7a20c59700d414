"""The ledger transfers one collection attempt posts, field by field.

Pure: the legs are built from a plan in memory and compared with transfers written out by
hand from the chart in collection/bookkeeping.py's docstring.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from paycore.collection.bookkeeping import landlord_leg, wallet_legs
from paycore.collection.model import Plan, PlanStatus
from paycore.ledger.model import TransferFlags, TransferRequest
from paycore.wallets.model import wallet_account
from tests.collection.conftest import terms

AT = datetime(2026, 2, 1, tzinfo=UTC)
TENANT = wallet_account("m_1", "tenant1", "CNY")
LANDLORD = wallet_account("m_1", "landlord1", "CNY")
MERCHANT = "acct_mw_m_1_CNY"  # the merchant's own wallet (payments/bookkeeping.py)
META = {"plan_id": "cp_1", "attempt_id": "cp_1_2_1", "merchant_id": "m_1"}


def plan(fee: int, **changes: Any) -> Plan:
    return Plan(
        id="cp_1",
        merchant_id="m_1",
        reference=None,
        terms=terms(**changes),
        fee_amount=fee,
        card_enc=None,
        card_masked=None,
        status=PlanStatus.ACTIVE,
        next_period_no=2,
        next_due_at=None,
        created_at=AT,
        updated_at=AT,
    )


def test_a_wallet_collection_pays_the_landlord_and_the_merchant_in_one_linked_pair() -> None:
    legs = wallet_legs(plan(15_000), "cp_1_2_1")

    assert legs == [
        TransferRequest(
            id="tr_col_cp_1_2_1_net",
            debit_account_id=TENANT,
            credit_account_id=LANDLORD,
            amount=285_000,
            currency="CNY",
            flags=TransferFlags.LINKED.value,  # neither leg without the other
            code=50,
            metadata=META,
        ),
        TransferRequest(
            id="tr_col_cp_1_2_1_fee",
            debit_account_id=TENANT,
            credit_account_id=MERCHANT,
            amount=15_000,
            currency="CNY",
            flags=0,  # the last leg closes the chain
            code=51,
            metadata=META,
        ),
    ]


def test_a_wallet_collection_without_a_fee_is_one_unlinked_transfer() -> None:
    # A lone LINKED transfer would leave its chain open, which the ledger refuses.
    (leg,) = wallet_legs(plan(0), "cp_1_2_1")

    assert leg == TransferRequest(
        id="tr_col_cp_1_2_1_net",
        debit_account_id=TENANT,
        credit_account_id=LANDLORD,
        amount=300_000,
        currency="CNY",
        code=50,
        metadata=META,
    )
    assert leg.flags == 0


@pytest.mark.parametrize("settle_try", [0, 3])
def test_a_channel_collection_pays_the_landlord_from_the_merchant_wallet_per_try(
    settle_try: int,
) -> None:
    leg = landlord_leg(plan(15_000), "cp_1_2_1", settle_try)

    assert leg == TransferRequest(
        id=f"tr_col_cp_1_2_1_ll{settle_try}",
        debit_account_id=MERCHANT,
        credit_account_id=LANDLORD,
        amount=285_000,
        currency="CNY",
        code=52,
        metadata=META,
    )


def test_the_legs_use_the_plans_currency_for_every_account() -> None:
    legs = [*wallet_legs(plan(100, currency="USD"), "a"), landlord_leg(plan(100), "a", 1)]

    assert [leg.currency for leg in legs] == ["USD", "USD", "CNY"]
    assert legs[0].debit_account_id == wallet_account("m_1", "tenant1", "USD")
    assert legs[0].credit_account_id == wallet_account("m_1", "landlord1", "USD")
    assert legs[1].credit_account_id == "acct_mw_m_1_USD"
