"""The shared secret paycore signs pushes with, generated on the receiver's first start.

One file in the data dir (`push_secret`, 32 random bytes as hex, mode 0600): the finance
system hands it to paycore at onboarding, as the sandbox bank hands over its keys.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from paycore.sandbox_finance.model import SECRET_FILE

SECRET_BYTES = 32


def secret_path(data_dir: Path) -> Path:
    return data_dir / SECRET_FILE


def prepare_secret(data_dir: Path) -> tuple[Path, bool]:
    """Create the data dir and, on first start, the secret; returns its path and whether
    it was generated now. Written to a temporary name first so a reader never sees half."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = secret_path(data_dir)
    if path.exists():
        return path, False
    partial = path.with_name(f"{SECRET_FILE}.{os.getpid()}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(SECRET_BYTES))
    try:
        os.link(partial, path)  # fails if another process made the secret meanwhile
    except FileExistsError:
        return path, False
    finally:
        partial.unlink()
    return path, True


def read_secret(data_dir: Path) -> bytes:
    """The secret's bytes (the hex text as written: both sides HMAC with the same bytes)."""
    return secret_path(data_dir).read_text().strip().encode()
