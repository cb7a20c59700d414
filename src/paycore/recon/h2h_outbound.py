"""The pain.001 files paycore keeps for a host-to-host bank, sealed at rest.

A pain.001 names each payee and their account (C2), so it is kept in the channel's
`files_dir` as `<msg id>.pain.001.xml.enc` (security/files.py, kind PAIN001_FILE_KIND), as
statements and received bank files are kept. It is checked against the XSD in memory and
sealed in one write-then-rename: its clear bytes never reach the disk, not even as a
partial file. It is opened only to be handed over (HTTP with `pii:reveal`, a reason and an
audit record; the CLI's `--out` with a reason), and the bytes handed out must hash to the
SHA-256 the database keeps for the file (that of the clear XML).

A file written in clear before (`<msg id>.pain.001.xml`) is replaced by its sealed copy
the next time it is exported; the retention purge removes the rest after 7 days.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from paycore.errors import Rejected
from paycore.recon import xsd
from paycore.recon.model import MalformedStatement
from paycore.security import files

log = logging.getLogger(__name__)

PAIN001_FILE_KIND = "h2h-pain001"
"""The file kind its data key is sealed under: a header copied from another kind of file
does not open."""
PAIN001_SUFFIX = ".pain.001.xml"
PAYOUT_FILE_FIELDS = ("creditor_account", "creditor_name")
"""The personal fields a hand-over discloses (its audit record names them)."""


def sealed_path(files_dir: Path, msg_id: str) -> Path:
    return files_dir / f"{msg_id}{PAIN001_SUFFIX}{files.SEALED_SUFFIX}"


def clear_path(files_dir: Path, msg_id: str) -> Path:
    """Where a file was written in clear before it was sealed at rest."""
    return files_dir / f"{msg_id}{PAIN001_SUFFIX}"


def keep(files_dir: Path, msg_id: str, data: bytes, cipher: files.FieldSealer) -> Path:
    """Validate `data` against pain.001's XSD, then keep it sealed; a kept file that opens
    to the same bytes is left as is (each sealing draws a new data key, so its bytes
    differ). A kept file that does not open is refused, `file_tampered`, never overwritten:
    someone changed it, and an operator must look (removing it lets the next export
    rebuild it from the database)."""
    path = sealed_path(files_dir, msg_id)
    digest = hashlib.sha256(data).hexdigest()
    if _kept_digest(path, cipher) != digest:
        try:  # against sepaxml's pain.001.001.03 XSD, before anyone can take the file
            xsd.validate_bytes(data)
        except MalformedStatement as error:
            raise Rejected("invalid_pain001", error.detail) from None
        files.seal_bytes(path, data, cipher, kind=PAIN001_FILE_KIND)
    # The clear copy of before holds the same payouts: the sealed one replaces it.
    clear_path(files_dir, msg_id).unlink(missing_ok=True)
    return path


def _kept_digest(path: Path, cipher: files.FieldSealer) -> str | None:
    try:
        return hashlib.sha256(open_kept(path, cipher)).hexdigest()
    except FileNotFoundError:
        return None
    except Rejected as error:
        if error.code == "file_tampered":
            log.error("h2h: kept pain.001 %s refused: %s", path.name, error.detail)
        raise


def open_kept(path: Path, cipher: files.FieldSealer, *, sha256: str | None = None) -> bytes:
    """The clear XML of a kept file, for a hand-over. Refused (`file_tampered`) when it is
    not sealed (a `.enc` name on clear bytes: put there by someone else), does not open,
    or does not hash to `sha256`."""
    if not files.is_sealed(path):
        raise files.tampered(path, "not an encrypted paycore file")
    data = files.read_clear(path, cipher, kind=PAIN001_FILE_KIND)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise files.tampered(path, "it is not the file paycore built")
    return data
