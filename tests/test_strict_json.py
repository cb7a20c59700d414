"""JSON numbers written with a fraction or an exponent are read exactly, or refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore import strict_json


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_a_whole_number_written_with_a_zero_fraction_reads_as_exactly_that_integer(
    value: int,
) -> None:
    assert strict_json.loads(f"{value}.0") == value
    assert type(strict_json.loads(f"{value}.000")) is int


def test_an_integer_beyond_a_floats_precision_is_not_rounded_by_its_fraction() -> None:
    # 2**53 + 1 has no float of its own: read through float it would become 2**53.
    assert strict_json.loads("9007199254740993.0") == 9007199254740993


def test_a_fraction_too_fine_to_read_exactly_is_refused_not_rounded_to_a_whole_number() -> None:
    with pytest.raises(strict_json.MalformedJson) as refused:
        strict_json.loads('{"amount": 1.00000000000000000001}')
    assert refused.value.code == "malformed_json"


def test_an_exponent_reads_as_its_integer_only_when_it_is_whole() -> None:
    assert strict_json.loads("1e2") == 100
    assert strict_json.loads("25E-1") == 2.5


@pytest.mark.parametrize("literal", ["1e400", "1e999999999", "-1e30"])
def test_a_huge_exponent_is_never_expanded_into_a_giant_integer(literal: str) -> None:
    # Left a float (or infinity), which every integer field refuses; never a million digits.
    assert type(strict_json.loads(literal)) is float
