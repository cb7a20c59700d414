"""The chain's rules, in memory: any edit, removal or reordering is found, at its seq."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.security.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditRecord,
    ChainHead,
    check_reason,
    next_record,
    parse_anchor,
    verify_chain,
)

START = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def _entry(n: int) -> AuditEntry:
    return AuditEntry(
        at=START + timedelta(seconds=n, microseconds=n),
        actor_key_id=f"key_{n % 3}",
        merchant_id=None if n % 2 else "mch_a",
        action="pii.reveal",
        object_type="payin",
        object_id=f"pay_{n}",
        fields=("card_number",),
        reason=f"ticket {n}: the payer asked",
        request_id=f"req_{n}",
    )


def _chain(length: int) -> tuple[list[AuditRecord], ChainHead]:
    records: list[AuditRecord] = []
    head = ChainHead(0, GENESIS_HASH)
    for n in range(length):
        record = next_record(head, _entry(n))
        records.append(record)
        head = ChainHead(record.seq, record.hash)
    return records, head


def test_a_chain_as_written_is_intact_and_starts_after_the_genesis_hash() -> None:
    records, head = _chain(5)

    assert verify_chain(records, head) is None
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))


def test_the_hash_covers_every_field_and_the_previous_hash() -> None:
    base = _entry(2)
    changed: dict[str, Any] = {
        "at": base.at + timedelta(microseconds=1),
        "merchant_id": None,
        "fields": ("card_number", "phone"),
    }
    variants = [
        dataclasses.replace(base, **{f.name: changed.get(f.name, "other")})
        for f in dataclasses.fields(base)
    ]
    hashes = {next_record(ChainHead(0, GENESIS_HASH), v).hash for v in [base, *variants]}
    hashes.add(next_record(ChainHead(0, "1" * 64), base).hash)
    hashes.add(next_record(ChainHead(1, GENESIS_HASH), base).hash)

    assert len(hashes) == len(variants) + 3


@given(length=st.integers(2, 12), data=st.data())
def test_an_edited_record_is_found_at_its_seq(length: int, data: st.DataObject) -> None:
    records, head = _chain(length)
    index = data.draw(st.integers(0, length - 1))
    entry = dataclasses.replace(records[index].entry, reason="nothing happened here, really")
    records[index] = dataclasses.replace(records[index], entry=entry)

    broken = verify_chain(records, head)

    assert broken is not None and broken.seq == index + 1


@given(length=st.integers(2, 12), data=st.data())
def test_a_removed_record_is_found_at_its_seq(length: int, data: st.DataObject) -> None:
    records, head = _chain(length)
    index = data.draw(st.integers(0, length - 1))
    del records[index]

    broken = verify_chain(records, head)

    assert broken is not None and broken.seq == index + 1


@given(length=st.integers(2, 12), data=st.data())
def test_two_swapped_records_are_found_at_the_first_of_them(
    length: int, data: st.DataObject
) -> None:
    records, head = _chain(length)
    first = data.draw(st.integers(0, length - 2))
    second = data.draw(st.integers(first + 1, length - 1))
    a, b = records[first], records[second]
    # Swapped in place, each taking the other's seq (as an UPDATE of the seqs would).
    records[first] = dataclasses.replace(b, seq=a.seq)
    records[second] = dataclasses.replace(a, seq=b.seq)

    broken = verify_chain(records, head)

    assert broken is not None and broken.seq == first + 1


def test_a_chain_rewritten_from_an_anchored_record_on_is_found_by_the_anchor() -> None:
    records, _head = _chain(4)
    anchor = ChainHead(records[2].seq, records[2].hash)
    rewritten, head = _chain(2)
    for n in (2, 3):
        last = ChainHead(rewritten[-1].seq, rewritten[-1].hash)
        rewritten.append(next_record(last, dataclasses.replace(_entry(n), reason="rewritten!!")))
    head = ChainHead(rewritten[-1].seq, rewritten[-1].hash)

    assert verify_chain(rewritten, head) is None
    broken = verify_chain(rewritten, head, anchor=anchor)
    assert broken is not None and broken.seq == 3


def test_a_head_beyond_the_last_record_means_the_tail_was_removed() -> None:
    records, head = _chain(3)

    broken = verify_chain(records[:2], head)

    assert broken is not None and broken.seq == 3


@pytest.mark.parametrize("reason", [None, "", "   why?    ", "x" * 501])
def test_a_reason_of_fewer_than_10_or_more_than_500_characters_is_refused(
    reason: str | None,
) -> None:
    with pytest.raises(Rejected) as refused:
        check_reason(reason)

    assert refused.value.code == "reveal_reason_required"


def test_a_personal_number_in_a_reason_is_masked_before_it_is_stored() -> None:
    phone = "".join(("138", "1234", "5678"))

    stored = check_reason(f"payer {phone} called about a charge")

    assert phone not in stored and stored.startswith("payer 138")


def test_an_anchor_is_a_seq_and_a_sha256() -> None:
    assert parse_anchor(f"7:{'ab' * 32}") == ChainHead(7, "ab" * 32)
    with pytest.raises(Rejected):
        parse_anchor("7:nothex")
