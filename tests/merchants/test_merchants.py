"""Merchants: rules on their fields, and a webhook secret that is stored only encrypted."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.merchants.model import MerchantStatus, WebhookEndpoint
from paycore.merchants.service import Merchants
from paycore.security.crypto import FieldCipher, TamperedCiphertext


def stored_row(engine: Engine, merchant_id: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM merchants WHERE id = :id"), {"id": merchant_id}
        ).one()
    return dict(row._mapping)


def test_a_created_merchant_is_active_and_readable(
    merchants: Merchants, clock: ManualClock
) -> None:
    merchant, secret = merchants.create(
        name="Rent Co", fee_bps=60, webhook_url="https://rent.example/hooks"
    )

    assert merchant.id.startswith("mch_") and secret.startswith("whsec_")
    assert merchant.status is MerchantStatus.ACTIVE and merchant.created_at == clock.now()
    assert merchants.get(merchant.id) == merchant
    assert merchants.get("mch_missing") is None


def test_the_webhook_secret_is_stored_encrypted_and_bound_to_its_merchant(
    merchants: Merchants, engine: Engine, field_cipher: FieldCipher
) -> None:
    _merchant, secret = merchants.create(
        name="Shop", webhook_url="https://shop.example/h", merchant_id="mch_shop"
    )
    merchants.create(name="Other", merchant_id="mch_other")

    row = stored_row(engine, "mch_shop")
    sealed = str(row["webhook_secret_enc"])

    assert secret not in " ".join(map(str, row.values()))
    assert sealed.startswith(f"{field_cipher.active_key_id}:")
    assert merchants.webhook_endpoint("mch_shop") == WebhookEndpoint(
        "https://shop.example/h", secret
    )
    with pytest.raises(TamperedCiphertext):
        field_cipher.decrypt(sealed, context="merchant:mch_other:webhook_secret")


def test_setting_the_webhook_rotates_the_secret(merchants: Merchants) -> None:
    merchant, first = merchants.create(name="Shop")
    assert merchants.webhook_endpoint(merchant.id) is None

    second = merchants.set_webhook(merchant.id, "http://127.0.0.1:9000/hook")

    assert second != first
    assert merchants.webhook_endpoint(merchant.id) == WebhookEndpoint(
        "http://127.0.0.1:9000/hook", second
    )
    assert merchants.get(merchant.id).webhook_url == "http://127.0.0.1:9000/hook"  # type: ignore[union-attr]
    merchants.set_webhook(merchant.id, None)
    assert merchants.webhook_endpoint(merchant.id) is None


def test_the_endpoint_never_shows_its_secret_in_its_repr(merchants: Merchants) -> None:
    merchant, secret = merchants.create(name="Shop", webhook_url="https://shop.example/h")

    assert secret not in repr(merchants.webhook_endpoint(merchant.id))


def test_a_merchant_can_be_suspended_and_reactivated(merchants: Merchants) -> None:
    merchant, _ = merchants.create(name="Shop")

    assert merchants.set_status(merchant.id, "suspended").status is MerchantStatus.SUSPENDED
    assert merchants.set_status(merchant.id, MerchantStatus.ACTIVE).status is MerchantStatus.ACTIVE


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda m: m.set_status("mch_missing", "active"), "merchant_not_found"),
        (lambda m: m.set_status("mch_x", "closed"), "invalid_status"),
        (lambda m: m.set_webhook("mch_missing", "https://x.example"), "merchant_not_found"),
        (lambda m: m.set_webhook("mch_x", "ftp://x.example"), "invalid_webhook_url"),
    ],
)
def test_changes_to_unknown_merchants_or_with_bad_values_are_refused(
    merchants: Merchants, call: object, code: str
) -> None:
    merchants.create(name="X", merchant_id="mch_x")

    with pytest.raises(Rejected) as refused:
        call(merchants)  # type: ignore[operator]

    assert refused.value.code == code


def test_a_taken_merchant_id_is_refused(merchants: Merchants) -> None:
    merchants.create(name="Shop", merchant_id="mch_shop")

    with pytest.raises(Rejected, match="merchant_exists"):
        merchants.create(name="Shop again", merchant_id="mch_shop")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"fee_bps": -1}, "fee_bps_out_of_range"),
        ({"fee_bps": 10_001}, "fee_bps_out_of_range"),
        ({"fee_bps": True}, "fee_bps_out_of_range"),
        ({"name": "  "}, "name_must_not_be_empty"),
        ({"name": "n" * 201}, "name_too_long"),
        ({"merchant_id": "mch:1"}, "invalid_merchant_id"),
        ({"merchant_id": "x" * 65}, "invalid_merchant_id"),
        ({"webhook_url": "javascript:alert(1)"}, "invalid_webhook_url"),
        ({"webhook_url": "https://"}, "invalid_webhook_url"),
        ({"webhook_url": "https://user:pw@shop.example/h"}, "invalid_webhook_url"),
        ({"webhook_url": "https://shop.example/h#frag"}, "invalid_webhook_url"),
        ({"webhook_url": "https://shop.example:99999/h"}, "invalid_webhook_url"),
        ({"webhook_url": "https://shop.example/a b"}, "invalid_webhook_url"),
        ({"webhook_url": "https://shop.example/" + "a" * 2048}, "invalid_webhook_url"),
    ],
)
def test_invalid_merchants_are_refused_before_anything_is_stored(
    merchants: Merchants, fields: dict[str, object], code: str
) -> None:
    with pytest.raises(Rejected) as refused:
        merchants.create(**{"name": "Shop", **fields})  # type: ignore[arg-type]

    assert refused.value.code == code
    assert merchants.list() == []


@pytest.mark.parametrize("fee_bps", [0, 1, 10_000])
def test_fee_bps_at_the_limits_is_accepted(merchants: Merchants, fee_bps: int) -> None:
    assert merchants.create(name="Shop", fee_bps=fee_bps)[0].fee_bps == fee_bps


def test_merchants_are_listed_in_id_order_by_pages(merchants: Merchants) -> None:
    for n in range(5):
        merchants.create(name=f"M{n}", merchant_id=f"mch_{n}")

    first = merchants.list(limit=2)
    rest = merchants.list(limit=10, after=first[-1].id)

    assert [m.id for m in first + rest] == [f"mch_{n}" for n in range(5)]
    with pytest.raises(Rejected, match="limit_out_of_range"):
        merchants.list(limit=0)
