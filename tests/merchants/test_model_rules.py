"""The merchant rules called directly, at their edges: ids, names and fees at exactly their
limits and one past, every way a webhook URL is refused, and the secrets and encryption
contexts that belong to one merchant."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.merchants import model
from paycore.merchants.model import Merchant, MerchantStatus, WebhookEndpoint

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _code(check: object, value: object) -> str | None:
    try:
        check(value)  # type: ignore[operator]
    except Rejected as refused:
        return refused.code
    return None


@pytest.mark.parametrize(
    ("merchant_id", "code"),
    [
        ("m", None),
        ("Az09_-", None),
        ("m" * 64, None),
        ("m" * 65, "invalid_merchant_id"),
        ("", "invalid_merchant_id"),
        ("m:1", "invalid_merchant_id"),
        ("m 1", "invalid_merchant_id"),
        ("m1\n", "invalid_merchant_id"),
    ],
)
def test_a_merchant_id_is_one_to_sixty_four_letters_digits_underscores_or_dashes(
    merchant_id: str, code: str | None
) -> None:
    assert _code(model.check_merchant_id, merchant_id) == code


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("A", None),
        ("n" * 200, None),
        ("n" * 201, "name_too_long"),
        ("", "name_must_not_be_empty"),
        (" \t", "name_must_not_be_empty"),
    ],
)
def test_a_merchant_name_is_not_blank_and_at_most_two_hundred_characters(
    name: str, code: str | None
) -> None:
    assert _code(model.check_name, name) == code


@pytest.mark.parametrize(
    ("fee_bps", "code"),
    [
        (0, None),
        (10_000, None),
        (-1, "fee_bps_out_of_range"),
        (10_001, "fee_bps_out_of_range"),
        (True, "fee_bps_out_of_range"),
        (False, "fee_bps_out_of_range"),
        (1.0, "fee_bps_out_of_range"),
        ("5", "fee_bps_out_of_range"),
    ],
)
def test_a_fee_is_a_whole_number_of_basis_points_up_to_the_whole_amount(
    fee_bps: object, code: str | None
) -> None:
    assert _code(model.check_fee_bps, fee_bps) == code


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/hooks",
        "http://127.0.0.1:8080/h?x=1",
        "https://" + "h" * (2048 - len("https://")),
    ],
)
def test_an_absolute_http_url_with_a_host_is_a_webhook_url(url: str) -> None:
    assert _code(model.check_webhook_url, url) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://" + "h" * (2049 - len("https://")),
        "https://shop.example/a b",
        "https://shop.example/\x00",
        "https://shop.example/\u200b",
        "https://shop.example:99999/",
        "https://shop.example:port/",
        "ftp://shop.example/",
        "shop.example/hooks",
        "https:///hooks",
        "https://user@shop.example/",
        "https://:pw@shop.example/",
        "https://shop.example/#top",
        "https://[::1/",
    ],
)
def test_a_webhook_url_that_is_long_odd_not_http_or_carries_credentials_is_refused(
    url: str,
) -> None:
    assert _code(model.check_webhook_url, url) == "invalid_webhook_url"


def test_a_webhook_url_that_cannot_be_parsed_is_refused_with_the_parsers_reason() -> None:
    with pytest.raises(Rejected) as refused:
        model.check_webhook_url("https://shop.example:99999/")

    assert refused.value.code == "invalid_webhook_url"
    assert "out of range" in refused.value.detail


def test_a_merchant_checks_every_field_when_it_is_made() -> None:
    fields = {
        "id": "m1", "name": "Shop", "status": MerchantStatus.ACTIVE, "fee_bps": 60,
        "webhook_url": None, "created_at": T0,
    }  # fmt: skip
    assert Merchant(**fields).webhook_url is None  # type: ignore[arg-type]
    bad = {"id": "m:1", "name": "", "fee_bps": -1, "webhook_url": "ftp://x"}
    codes = {}
    for field, value in bad.items():
        with pytest.raises(Rejected) as refused:
            Merchant(**{**fields, field: value})  # type: ignore[arg-type]
        codes[field] = refused.value.code

    assert codes == {
        "id": "invalid_merchant_id",
        "name": "name_must_not_be_empty",
        "fee_bps": "fee_bps_out_of_range",
        "webhook_url": "invalid_webhook_url",
    }


def test_an_endpoint_shows_its_url_but_never_its_secret() -> None:
    endpoint = WebhookEndpoint("https://shop.example/h", "whsec_abc")

    assert repr(endpoint) == "WebhookEndpoint(url='https://shop.example/h', secret='***')"


def test_a_webhook_secret_is_prefixed_and_carries_thirty_two_random_bytes() -> None:
    secrets = {model.new_webhook_secret() for _ in range(20)}

    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        raw = base64.urlsafe_b64decode(secret.removeprefix("whsec_") + "=")
        assert len(raw) == 32


def test_a_webhook_secrets_encryption_context_names_its_merchant() -> None:
    assert model.webhook_secret_context("m1") == "merchant:m1:webhook_secret"


MERCHANT_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@given(MERCHANT_IDS, MERCHANT_IDS)
def test_no_two_merchants_share_a_webhook_secrets_encryption_context(a: str, b: str) -> None:
    same = model.webhook_secret_context(a) == model.webhook_secret_context(b)

    assert same is (a == b)
