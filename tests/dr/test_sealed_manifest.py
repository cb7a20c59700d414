"""The manifest's record of sealing, manifests of before the flag, and which WAL segment a
sealed archive's files are opened as."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from paycore.dr import pg, sealing
from paycore.dr.model import Digest, Fingerprint, Kind, Manifest, Point, Sealed

_DIGEST = Digest(rows=1, amount=2, hash_high=3, hash_low=4)


def _manifest(**fields: object) -> Manifest:
    return Manifest(
        kind=Kind.POSTGRESQL,
        source_url="postgresql+psycopg://app@db/paycore",
        created_at=datetime(2026, 12, 6, tzinfo=UTC),
        point=Point(seq=5, lsn="0/3000060", restore_point="paycore_dr_x", timeline=1),
        fingerprint=Fingerprint(5, _DIGEST, _DIGEST, _DIGEST),
        **fields,  # type: ignore[arg-type]
    )


def test_a_sealed_manifest_survives_its_json_form_with_its_sealing_figures() -> None:
    manifest = _manifest(encrypted=True, sealed=Sealed(files=1012, clear_bytes=9_000, seconds=1.5))

    assert Manifest.from_dict(manifest.to_dict()) == manifest


def test_a_manifest_of_before_the_flag_is_encrypted_only_if_its_sqlite_copy_was_sealed() -> None:
    old = {k: v for k, v in _manifest().to_dict().items() if k not in ("encrypted", "sealed")}

    postgres = Manifest.from_dict(old)
    sqlite_sealed = Manifest.from_dict(old | {"kind": "sqlite", "files": {"paycore.db.enc": "x"}})
    sqlite_clear = Manifest.from_dict(old | {"kind": "sqlite", "files": {"paycore.db": "x"}})

    assert (postgres.encrypted, sqlite_sealed.encrypted, sqlite_clear.encrypted) == (
        False, True, False,
    )  # fmt: skip
    assert postgres.sealed is None


def test_the_partial_segment_is_opened_under_its_full_name_unless_it_was_completed(
    tmp_path: Path,
) -> None:
    for name in ("000000010000000000000002", "000000010000000000000003.partial",
                 "000000010000000000000004", "000000010000000000000004.partial"):  # fmt: skip
        (tmp_path / f"{name}.enc").write_bytes(b"sealed")

    opened = [name for _, name in pg.archive_segments(tmp_path, ".enc")]

    assert opened == [
        "000000010000000000000002", "000000010000000000000003", "000000010000000000000004"
    ]  # fmt: skip


@given(
    st.text(min_size=1, max_size=20),
    st.lists(st.text(min_size=1, max_size=20), min_size=2, max_size=2, unique=True),
)
def test_a_data_key_is_bound_to_its_backup_and_its_path(backup: str, paths: list[str]) -> None:
    first, second = paths

    assert sealing.kind_of(backup, first) != sealing.kind_of(backup, second)
    assert sealing.kind_of(backup, first) != sealing.kind_of(backup + "x", first)
