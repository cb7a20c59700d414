"""Ids are time-ordered and, within one process, strictly increasing."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from paycore.ids import encode_base32, new_id, uuid7_int


def test_ids_made_in_the_same_millisecond_still_sort_in_the_order_they_were_made() -> None:
    made = [new_id("pay") for _ in range(20_000)]

    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_made_by_many_threads_are_all_distinct() -> None:
    made: list[list[str]] = [[] for _ in range(8)]

    def make(bucket: list[str]) -> None:
        bucket.extend(new_id("evt") for _ in range(2_000))

    threads = [threading.Thread(target=make, args=(b,)) for b in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    everything = [i for bucket in made for i in bucket]
    assert len(set(everything)) == len(everything)
    assert all(bucket == sorted(bucket) for bucket in made)


@given(st.integers(min_value=0, max_value=2**48 - 1))
def test_an_id_carries_its_millisecond_version_and_variant(unix_ms: int) -> None:
    value = uuid7_int(unix_ms)

    assert value >> 80 == unix_ms
    assert (value >> 76) & 0xF == 7
    assert (value >> 62) & 0b11 == 0b10
    assert len(encode_base32(value)) == 26


def crockford_by_hand(value: int) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(26)))


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_the_base32_text_is_crockfords_five_bit_groups_of_the_value(value: int) -> None:
    assert encode_base32(value) == crockford_by_hand(value)


def test_known_values_have_known_texts() -> None:
    assert encode_base32(0) == "0" * 26
    assert encode_base32(2**128 - 1) == "7" + "Z" * 25
    assert encode_base32(0x0190_0000_0000_7000_8000_0000_0000_0001) == "01J0000000E008000000000001"
    assert encode_base32(123456789) == "000000000000000000003NQK8N"
