"""Free text of orders (description, metadata, a refund's reason) is masked before it is
saved, so every later reader shows the same; a merchant reference holding a personal
number is refused, since a lookup key cannot be masked."""

from __future__ import annotations

import pytest

from paycore.channels.model import BankAccount
from paycore.errors import Rejected
from paycore.payments.model import OrderKind
from paycore.payments.service import PayoutCommand, RefundCommand
from paycore.security.masking import mask_card, mask_id_number, mask_phone
from tests.payments.conftest import World
from tests.payments.fakes import succeeded
from tests.payments.test_payin_flows import payin
from tests.security.test_pii_fuzz import full_width, luhn_completed

CARD = luhn_completed("621700001000123456")
ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"
BENEFICIARY = BankAccount(account_number="6214830100001234", name="Li Si", bank_code="CMB")


def test_a_card_number_in_a_description_is_saved_answered_and_replayed_masked(
    world: World,
) -> None:
    world.alpha.then(succeeded())
    command = payin(100, "m2", description=f"卡号{full_width(CARD)}\uff0c谢谢")

    created = world.payments.create_payin(command, idempotency_key="k1")
    replayed = world.payments.create_payin(command, idempotency_key="k1")
    stored = world.payments.get(merchant_id="m2", order_id=str(created.body["id"]))

    assert stored.description == f"卡号{mask_card(CARD)}\uff0c谢谢"
    assert created.body["description"] == stored.description
    assert replayed.body == created.body


def test_metadata_keys_and_values_holding_numbers_are_saved_masked(world: World) -> None:
    world.fund("m2", 1_000)
    metadata = {"payer": {"id": ID_NUMBER, MOBILE: "call"}, "count": 3}
    command = PayoutCommand(
        merchant_id="m2", amount=100, currency="CNY", beneficiary=BENEFICIARY, metadata=metadata
    )

    created = world.payments.create_payout(command, idempotency_key="k1")
    stored = world.payments.get(merchant_id="m2", order_id=str(created.body["id"]))

    expected = {"payer": {"id": mask_id_number(ID_NUMBER), mask_phone(MOBILE): "call"}, "count": 3}
    assert dict(stored.metadata) == expected
    assert created.body["metadata"] == expected


def test_a_refund_reason_becomes_the_refund_orders_masked_description(world: World) -> None:
    world.alpha.then(succeeded())
    paid = world.payments.create_payin(payin(10_000, "m2"), idempotency_key="k1")
    world.alpha.then(succeeded())
    refund = RefundCommand(
        merchant_id="m2", payin_id=str(paid.body["id"]), amount=100, reason=f"to {MOBILE}"
    )

    created = world.payments.create_refund(refund, idempotency_key="k2")
    stored = world.payments.get(
        merchant_id="m2", order_id=str(created.body["id"]), kind=OrderKind.REFUND
    )

    assert stored.description == f"to {mask_phone(MOBILE)}"


def test_a_retry_is_matched_by_the_text_as_sent_not_as_masked(world: World) -> None:
    """Two cards with the same masked form are different requests under one key."""
    world.alpha.then(succeeded())
    first = payin(100, "m2", description=f"card {CARD}")
    # Two digits two apart swapped: the same Luhn sum, the same first 6 and last 4.
    other = CARD[:8] + CARD[10] + CARD[9] + CARD[8] + CARD[11:]
    world.payments.create_payin(first, idempotency_key="k1")

    with pytest.raises(Rejected) as refused:
        world.payments.create_payin(
            payin(100, "m2", description=f"card {other}"), idempotency_key="k1"
        )

    assert other != CARD and mask_card(other) == mask_card(CARD)
    assert refused.value.code == "idempotency_key_reused"


@pytest.mark.parametrize("number", [CARD, ID_NUMBER, MOBILE, "139-1234-5678"])
def test_a_merchant_reference_holding_a_personal_number_is_refused(
    world: World, number: str
) -> None:
    world.fund("m2", 1_000)
    command = PayoutCommand(
        merchant_id="m2",
        amount=100,
        currency="CNY",
        beneficiary=BENEFICIARY,
        merchant_reference=f"ref-{number}",
    )

    with pytest.raises(Rejected) as refused:
        world.payments.create_payout(command, idempotency_key="k1")

    assert refused.value.code == "reference_has_personal_data"
    assert number not in refused.value.detail


def test_a_card_shaped_order_number_failing_luhn_is_a_valid_reference(world: World) -> None:
    world.alpha.then(succeeded())
    reference = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)

    created = world.payments.create_payin(
        payin(100, "m2", merchant_reference=reference), idempotency_key="k1"
    )

    assert created.body["merchant_reference"] == reference
