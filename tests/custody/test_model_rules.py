"""The custody bank configuration rules, checked on `parse_banks`/`parse_bank` directly:
every limit at its exact bound and one past it, and every refusal by its stable code."""

from __future__ import annotations

from typing import Any

import pytest

from paycore.custody.model import (
    BANKS_MAX,
    PRODUCTS_PER_BANK_MAX,
    CustodyBank,
    Mode,
    parse_bank,
    parse_banks,
)
from paycore.errors import Rejected


def entry(**fields: Any) -> dict[str, Any]:
    """A valid bank entry with only the fields a test names changed."""
    return {"name": "bank_a", "products": ["house_deposit"]} | fields


def refused(value: Any) -> str:
    """The code `parse_bank` refuses `value` with."""
    with pytest.raises(Rejected) as caught:
        parse_bank(value)
    return caught.value.code


def refused_doc(doc: Any) -> str:
    with pytest.raises(Rejected) as caught:
        parse_banks(doc)
    return caught.value.code


def banks_doc(count: int) -> dict[str, Any]:
    """`count` banks with distinct names and products."""
    return {"banks": [entry(name=f"bank_{i}", products=[f"product_{i}"]) for i in range(count)]}


# -- the document ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc", [None, [], "banks", {}, {"banks": None}, {"banks": {"name": "x"}}, {"bank": []}]
)
def test_a_document_that_is_not_an_object_with_a_list_of_banks_is_invalid_custody_config(
    doc: Any,
) -> None:
    assert refused_doc(doc) == "invalid_custody_config"


def test_no_bank_at_all_is_invalid_custody_config() -> None:
    assert refused_doc({"banks": []}) == "invalid_custody_config"


def test_one_bank_and_exactly_banks_max_banks_are_accepted_in_their_order() -> None:
    assert [b.name for b in parse_banks(banks_doc(1))] == ["bank_0"]
    many = parse_banks(banks_doc(BANKS_MAX))
    assert [b.name for b in many] == [f"bank_{i}" for i in range(BANKS_MAX)]


def test_one_bank_past_banks_max_is_invalid_custody_config() -> None:
    assert BANKS_MAX == 32  # the documented limit
    assert refused_doc(banks_doc(BANKS_MAX + 1)) == "invalid_custody_config"


def test_the_same_bank_name_twice_is_custody_bank_twice() -> None:
    doc = {"banks": [entry(products=["a1"]), entry(products=["b1"])]}
    assert refused_doc(doc) == "custody_bank_twice"


def test_a_product_in_two_banks_is_custody_product_twice() -> None:
    doc = {"banks": [entry(name="bank_a", products=["p"]), entry(name="bank_b", products=["p"])]}
    assert refused_doc(doc) == "custody_product_twice"


def test_a_product_listed_twice_in_one_bank_is_custody_product_twice() -> None:
    assert refused_doc({"banks": [entry(products=["p", "q", "p"])]}) == "custody_product_twice"


def test_an_invalid_bank_in_the_list_is_refused_with_its_own_code() -> None:
    doc = {"banks": [entry(), entry(name="Bad")]}
    assert refused_doc(doc) == "invalid_bank_name"


# -- one bank ----------------------------------------------------------------------------


def test_a_bank_with_only_name_and_products_takes_every_default() -> None:
    assert parse_bank(entry()) == CustodyBank(
        name="bank_a",
        currency="CNY",
        products=("house_deposit",),
        timezone="Asia/Shanghai",
        cutoff="24:00",
        mode=Mode.FULL,
        virtual_account_prefix="6228",
    )


def test_a_bank_with_every_field_keeps_each_one() -> None:
    fields = {
        "name": "pool_bank",
        "currency": "USD",
        "products": ["rent", "fees"],
        "timezone": "America/New_York",
        "cutoff": "17:30",
        "mode": "light",
        "virtual_account_prefix": "12345678",
    }
    assert parse_bank(fields) == CustodyBank(
        name="pool_bank",
        currency="USD",
        products=("rent", "fees"),
        timezone="America/New_York",
        cutoff="17:30",
        mode=Mode.LIGHT,
        virtual_account_prefix="12345678",
    )


@pytest.mark.parametrize("value", [None, ["bank_a"], "bank_a", 7])
def test_a_bank_that_is_not_an_object_is_invalid_custody_config(value: Any) -> None:
    assert refused(value) == "invalid_custody_config"


def test_an_unknown_field_is_invalid_custody_config() -> None:
    assert refused(entry(cut_off="17:00")) == "invalid_custody_config"


@pytest.mark.parametrize("name", ["ab", "a_1", "z" * 24, "b" + "0" * 23])
def test_a_bank_name_of_2_to_24_lowercase_letters_digits_or_underscores_is_accepted(
    name: str,
) -> None:
    assert parse_bank(entry(name=name)).name == name


@pytest.mark.parametrize(
    "name", [None, 5, "", "a", "z" * 25, "1bank", "_bank", "Bank", "bank-a", "bank a", "bank\n"]
)
def test_any_other_bank_name_is_invalid_bank_name(name: Any) -> None:
    assert refused(entry(name=name)) == "invalid_bank_name"


def test_a_missing_bank_name_is_invalid_bank_name() -> None:
    assert refused({"products": ["p"]}) == "invalid_bank_name"


@pytest.mark.parametrize("currency", [None, 156, "cny", "XXX", "CN", "ABC"])
def test_a_currency_that_is_not_iso_4217_money_is_unknown_currency(currency: Any) -> None:
    assert refused(entry(currency=currency)) == "unknown_currency"


@pytest.mark.parametrize("count", [1, PRODUCTS_PER_BANK_MAX])
def test_one_to_products_per_bank_max_products_are_accepted(count: int) -> None:
    products = [f"p{i}" for i in range(count)]
    assert parse_bank(entry(products=products)).products == tuple(products)


@pytest.mark.parametrize(
    "products",
    [None, "house", ("house",), [], [f"p{i}" for i in range(PRODUCTS_PER_BANK_MAX + 1)]],
)
def test_no_product_list_or_more_than_the_maximum_is_invalid_custody_products(
    products: Any,
) -> None:
    assert PRODUCTS_PER_BANK_MAX == 16  # the documented limit
    assert refused(entry(products=products)) == "invalid_custody_products"


@pytest.mark.parametrize("product", ["a", "a" * 32, "rent_2"])
def test_a_product_name_of_1_to_32_lowercase_characters_is_accepted(product: str) -> None:
    assert parse_bank(entry(products=["house", product])).products == ("house", product)


@pytest.mark.parametrize("product", [None, 3, "", "a" * 33, "2rent", "Rent", "rent-x", "rent\n"])
def test_any_other_product_name_is_invalid_custody_products(product: Any) -> None:
    assert refused(entry(products=["house", product])) == "invalid_custody_products"


@pytest.mark.parametrize("prefix", ["0", "9", "12345678", "00000000"])
def test_a_virtual_account_prefix_of_1_to_8_digits_is_accepted(prefix: str) -> None:
    assert parse_bank(entry(virtual_account_prefix=prefix)).virtual_account_prefix == prefix


@pytest.mark.parametrize(
    # "²" and "٣" are digits to str.isdigit but not to a bank: the number built from them
    # would be refused by check_virtual_account.
    "prefix",
    [None, 6228, "", "123456789", "62a8", " 622", "-1", "²", "٣٣", "6228\n"],
)
def test_any_other_virtual_account_prefix_is_invalid_virtual_account_prefix(prefix: Any) -> None:
    assert refused(entry(virtual_account_prefix=prefix)) == "invalid_virtual_account_prefix"


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "Asia/Tokyo"])
def test_an_iana_time_zone_is_accepted(zone: str) -> None:
    assert parse_bank(entry(timezone=zone)).timezone == zone


@pytest.mark.parametrize(
    "zone", [None, 8, "", "Mars/Olympus", "Asia", "utc", "/etc/localtime", "../zoneinfo/UTC"]
)
def test_anything_else_as_time_zone_is_unknown_timezone(zone: Any) -> None:
    assert refused(entry(timezone=zone)) == "unknown_timezone"


@pytest.mark.parametrize("cutoff", ["00:01", "09:00", "17:30", "19:59", "23:59", "24:00"])
def test_a_cutoff_from_00_01_to_24_00_is_accepted(cutoff: str) -> None:
    assert parse_bank(entry(cutoff=cutoff)).cutoff == cutoff


@pytest.mark.parametrize(
    "cutoff",
    [None, 1700, "", "00:00", "24:01", "24:30", "25:00", "30:00", "12:60", "7:00", "07:5",
     "17h30", "17:30:00", "24:00\n"],
)  # fmt: skip
def test_any_other_cutoff_is_invalid_cutoff(cutoff: Any) -> None:
    assert refused(entry(cutoff=cutoff)) == "invalid_cutoff"


@pytest.mark.parametrize("mode", [None, "", "FULL", "pooled", 1])
def test_a_mode_other_than_full_or_light_is_invalid_custody_mode(mode: Any) -> None:
    assert refused(entry(mode=mode)) == "invalid_custody_mode"
