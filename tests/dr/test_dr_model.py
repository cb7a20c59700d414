"""The manifest, the fingerprint comparison and the bisection that names a difference."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.dr.model import (
    Digest,
    Fingerprint,
    Kind,
    Manifest,
    Point,
    differences,
    first_differing,
    without_password,
)
from paycore.errors import Rejected

_DIGEST = Digest(rows=10, amount=1_000, hash_high=77, hash_low=88)
_PRINT = Fingerprint(seq=20, entries=_DIGEST, transfers=_DIGEST, balances=_DIGEST)


def test_a_manifest_survives_its_json_form_unchanged() -> None:
    manifest = Manifest(
        kind=Kind.POSTGRESQL,
        source_url="postgresql+psycopg://app:***@db/paycore",
        created_at=datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
        point=Point(seq=20, lsn="0/3000060", restore_point="paycore_dr_x", timeline=1),
        fingerprint=_PRINT,
        base_lsn={"start_lsn": "0/2000028", "end_lsn": "0/2000100"},
        took_s=1.5,
    )

    assert Manifest.from_dict(manifest.to_dict()) == manifest


@pytest.mark.parametrize(
    "raw",
    [{"version": 99}, {"version": 1, "kind": "oracle"}, {"version": 1, "kind": "sqlite"}],
)
def test_a_manifest_of_another_version_or_missing_fields_is_refused(raw: dict[str, object]) -> None:
    with pytest.raises(Rejected) as refused:
        Manifest.from_dict(raw)

    assert refused.value.code == "backup_manifest_invalid"


def test_equal_fingerprints_have_no_differences() -> None:
    assert differences(_PRINT, Fingerprint.from_dict(_PRINT.to_dict())) == []


def test_each_differing_part_and_field_is_named() -> None:
    changed = Fingerprint(
        seq=21,
        entries=Digest(10, 1_001, 77, 88),
        transfers=Digest(11, 1_000, 77, 88),
        balances=Digest(10, 1_000, 77, 89),
    )

    assert differences(_PRINT, changed) == [
        "journal point: seq 21, expected 20",
        "entries: amounts sum to 1001, expected 1000",
        "transfers: 11 rows, expected 10",
        "balances: digest differs (a row's content changed)",
    ]


@given(st.integers(0, 500), st.integers(0, 500), st.integers(0, 600))
def test_bisection_finds_the_first_seq_at_which_two_journals_differ(
    lo: int, length: int, first: int
) -> None:
    hi = lo + length

    def same(a: int, b: int) -> bool:  # the journals differ at every seq from `first` on
        return b < first

    expected = max(lo, first) if first <= hi else None
    assert first_differing(lo, hi, same) == expected


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://app:s3cret@db:5432/paycore", "postgresql+psycopg://app:***@db:5432/paycore"),
        ("postgresql+psycopg://postgres@127.0.0.1/paycore", "postgresql+psycopg://postgres@127.0.0.1/paycore"),
        ("sqlite:///var/lib/paycore.db", "sqlite:///var/lib/paycore.db"),
    ],
)  # fmt: skip
def test_a_manifest_never_keeps_the_source_password(url: str, shown: str) -> None:
    assert without_password(url) == shown
