"""A payer stored in clear in the source database, and a look at every byte of a backup
folder for it: what the sealed-backup tests grep for."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from paycore.dr import sealing
from paycore.security import files
from paycore.security.crypto import FieldCipher

CIPHER = FieldCipher({"k1": b"\x07" * 32}, "k1")
"""The static field key a backup's data keys are sealed with (`load_field_cipher`)."""
CLI_FIELD_KEYS = "k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
"""The same key as PAYCORE_FIELD_KEYS gives it to the CLI."""

PAYER_NAME = "张三"
PAYER_PHONE = "13812345678"
PAYER_CARD = "6228480402564890018"
MARKER = "dr-seeded-row-marker-7f3a"
"""Not personal: in the same row, so a test may show where the row's bytes are."""
PAYER_BYTES = [PAYER_NAME.encode(), PAYER_PHONE.encode(), PAYER_CARD.encode()]


def seed_payer(engine: Engine) -> None:
    """The payer as a clear row of the source, as any C2 column not yet encrypted stores
    it (a table of the test's own: the backup copies every table as stored)."""
    with engine.begin() as conn:
        columns = "name TEXT, phone TEXT, card TEXT, note TEXT"
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS dr_test_payers ({columns})"))
        conn.execute(
            text("INSERT INTO dr_test_payers VALUES (:n, :p, :c, :m)"),
            {"n": PAYER_NAME, "p": PAYER_PHONE, "c": PAYER_CARD, "m": MARKER},
        )


def found_in_files(backup: Path, needles: list[bytes]) -> list[str]:
    """Each file of the backup folder that holds one of `needles`, as stored."""
    return sorted(
        str(path.relative_to(backup))
        for path in backup.rglob("*")
        if path.is_file() and any(n in path.read_bytes() for n in needles)
    )


def found_when_opened(backup: Path, backup_id: str, needle: bytes) -> bool:
    """Whether some sealed file of a PostgreSQL backup holds `needle` once opened (in
    memory only): the grep above would have found it in a clear backup."""
    for path in backup.rglob("*.enc"):
        relative = path.relative_to(backup).as_posix().removesuffix(files.SEALED_SUFFIX)
        kind = sealing.kind_of(backup_id, relative)
        if needle in b"".join(files.iter_clear(path, CIPHER, kind=kind)):
            return True
    return False
