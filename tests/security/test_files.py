"""Files at rest: sealed in chunks under a fresh data key, read back as they were, and
every cut, swap, reorder or foreign header refused."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from paycore.errors import Rejected
from paycore.security import files
from paycore.security.crypto import FieldCipher
from tests.security.conftest_keys import (  # noqa: F401
    STATIC_KEY,
    bound_cipher_fixture,
    file_provider_fixture,
    key_tables_fixture,
)

KIND = "channel_statement"
PAYER = "Counterparty Name: Zhang Wei, 6222021234567890123"


@pytest.fixture(name="cipher")
def cipher_fixture() -> FieldCipher:
    return FieldCipher({"k1": STATIC_KEY}, "k1")


def sealed_bytes(data: bytes, cipher: FieldCipher, *, chunk_bytes: int = 16) -> bytes:
    out = io.BytesIO()
    with files.SealedWriter(out, cipher, kind=KIND, chunk_bytes=chunk_bytes) as writer:
        writer.write(data)
    return out.getvalue()


def opened(raw: bytes, cipher: FieldCipher, kind: str = KIND) -> bytes:
    return b"".join(files.read_chunks(io.BytesIO(raw), cipher, kind=kind))


def chunk_layout(raw: bytes) -> tuple[int, int]:
    """(header length, record length) of a sealed stream."""
    chunk_bytes, token_length = struct.unpack(">IH", raw[6:12])
    return 12 + token_length, chunk_bytes + files.TAG_BYTES


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200), pieces=st.integers(min_value=1, max_value=7))
def test_a_sealed_stream_reads_back_exactly_whatever_its_length_and_writes(
    cipher: FieldCipher, data: bytes, pieces: int
) -> None:
    out = io.BytesIO()
    with files.SealedWriter(out, cipher, kind=KIND, chunk_bytes=16) as writer:
        step = max(1, len(data) // pieces)
        for at in range(0, len(data), step):
            writer.write(data[at : at + step])
    assert opened(out.getvalue(), cipher) == data


def test_the_payers_name_and_account_are_not_in_the_file(cipher: FieldCipher) -> None:
    raw = sealed_bytes(PAYER.encode() * 50, cipher, chunk_bytes=files.CHUNK_BYTES)
    assert b"Zhang" not in raw and b"6222021234567890123" not in raw


def test_two_files_of_the_same_content_get_different_keys_and_bytes(cipher: FieldCipher) -> None:
    first, second = sealed_bytes(b"same" * 10, cipher), sealed_bytes(b"same" * 10, cipher)
    assert first != second
    assert first[12:40] != second[12:40]  # the sealed data keys differ


@pytest.mark.parametrize("cut", ["inside_last_chunk", "at_chunk_boundary", "header_only"])
def test_a_file_cut_short_is_refused(cipher: FieldCipher, cut: str) -> None:
    raw = sealed_bytes(b"x" * 64, cipher)  # four chunks of 16
    header, record = chunk_layout(raw)
    ends = {
        "inside_last_chunk": len(raw) - 3,
        "at_chunk_boundary": header + 2 * record,
        "header_only": header,
    }
    end = ends[cut]
    with pytest.raises(Rejected) as refused:
        opened(raw[:end], cipher)
    assert refused.value.code == "file_tampered"


def test_two_chunks_swapped_are_refused(cipher: FieldCipher) -> None:
    raw = sealed_bytes(bytes(range(64)), cipher)
    header, record = chunk_layout(raw)
    first = raw[header : header + record]
    second = raw[header + record : header + 2 * record]
    swapped = raw[:header] + second + first + raw[header + 2 * record :]
    with pytest.raises(Rejected, match="chunk 0"):
        opened(swapped, cipher)


def test_a_chunk_spliced_from_another_file_is_refused(cipher: FieldCipher) -> None:
    mine, theirs = sealed_bytes(b"a" * 40, cipher), sealed_bytes(b"a" * 40, cipher)
    header, record = chunk_layout(mine)
    their_header, _ = chunk_layout(theirs)
    spliced = mine[: header + record] + theirs[their_header + record :]
    with pytest.raises(Rejected, match=r"chunk 1"):
        opened(spliced, cipher)


def test_bytes_appended_after_the_final_chunk_are_refused(cipher: FieldCipher) -> None:
    for size in (20, 32):  # a short final chunk, a full one
        raw = sealed_bytes(b"y" * size, cipher)
        with pytest.raises(Rejected) as refused:
            opened(raw + b"junk", cipher)
        assert refused.value.code == "file_tampered"


def test_a_flipped_bit_is_refused(cipher: FieldCipher) -> None:
    raw = bytearray(sealed_bytes(b"z" * 50, cipher))
    raw[-20] ^= 1
    with pytest.raises(Rejected):
        opened(bytes(raw), cipher)


def test_a_file_of_one_kind_does_not_open_as_another(cipher: FieldCipher) -> None:
    raw = sealed_bytes(PAYER.encode(), cipher)
    with pytest.raises(Rejected) as refused:
        opened(raw, cipher, kind="bills_export")
    assert "data key does not open" in refused.value.detail


def test_another_deployments_key_cannot_open_the_file(cipher: FieldCipher) -> None:
    raw = sealed_bytes(PAYER.encode(), cipher)
    stranger = FieldCipher({"k1": b"\x09" * 32}, "k1")
    with pytest.raises(Rejected):
        opened(raw, stranger)


def test_a_clear_file_of_before_is_still_read_as_is(tmp_path: Path, cipher: FieldCipher) -> None:
    old = tmp_path / "2026-01-01.statement"
    old.write_bytes(PAYER.encode())
    assert not files.is_sealed(old)
    assert files.read_clear(old, cipher, kind=KIND) == PAYER.encode()


def test_write_sealed_is_atomic_and_private(tmp_path: Path, cipher: FieldCipher) -> None:
    target = tmp_path / "out" / "day.statement.enc"

    def failing() -> Iterator[bytes]:
        yield b"half a statement"
        raise OSError("disk full")

    with pytest.raises(OSError):
        files.write_sealed(target, failing(), cipher, kind=KIND)
    assert list(target.parent.iterdir()) == []
    files.seal_bytes(target, PAYER.encode(), cipher, kind=KIND)
    assert files.is_sealed(target)
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert files.read_clear(target, cipher, kind=KIND) == PAYER.encode()


def test_a_clear_copy_exists_only_while_it_is_read(tmp_path: Path, cipher: FieldCipher) -> None:
    kept = tmp_path / "day.statement.enc"
    files.seal_bytes(kept, PAYER.encode(), cipher, kind=KIND)
    with files.clear_copy(kept, cipher, kind=KIND) as clear:
        assert clear.read_bytes() == PAYER.encode()
        assert clear.name == "day.statement"
        assert oct(clear.parent.stat().st_mode & 0o777) == "0o700"
    assert not clear.exists() and not clear.parent.exists()


def test_a_tampered_file_leaves_no_clear_copy(tmp_path: Path, cipher: FieldCipher) -> None:
    kept = tmp_path / "export.csv.enc"
    files.seal_bytes(kept, b"r" * 200_000, cipher, kind=KIND)
    with kept.open("r+b") as edit:
        edit.seek(-10, os.SEEK_END)
        edit.write(b"0123456789")
    target = tmp_path / "clear.csv"
    with pytest.raises(Rejected):
        files.unseal_file(kept, target, cipher, kind=KIND)
    assert not target.exists()


def test_memory_stays_flat_when_a_large_file_is_sealed_and_read(
    tmp_path: Path, cipher: FieldCipher
) -> None:
    size = 8 * 1024 * 1024
    clear, kept = tmp_path / "big.csv", tmp_path / "big.csv.enc"
    with clear.open("wb") as out:
        for _ in range(size // 65536):
            out.write(os.urandom(65536))
    tracemalloc.start()
    files.seal_file(clear, kept, cipher, kind=KIND)
    total = sum(len(chunk) for chunk in files.iter_clear(kept, cipher, kind=KIND))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    clear.unlink()  # 16 MiB less for the suite's leak guard to scan
    kept.unlink()
    assert total == size
    assert peak < 1024 * 1024  # a few chunks, not the 8 MiB file


def test_a_file_sealed_under_the_envelope_reads_back_after_a_kek_rotation(
    tmp_path: Path, bound_cipher: FieldCipher, key_tables: Engine
) -> None:
    kept = tmp_path / "day.statement.enc"
    files.seal_bytes(kept, PAYER.encode(), bound_cipher, kind=KIND)
    assert b"$1$" in kept.read_bytes()[:200]  # the data key is sealed by an envelope DEK
    bound_cipher.keyring.rotate_kek()
    assert files.read_clear(kept, bound_cipher, kind=KIND) == PAYER.encode()
