"""Key files and key settings, the same way for every key paycore keeps: the field keys,
the blind-index keys, the file provider's KEKs.

- `parse_keys`: `kid:base64key,kid2:base64key` in order (the last is the active one).
- `write_private_json`: a JSON file readable by its owner only, written atomically. First
  writer wins (`replace=False`: several server workers making a development key at once
  all read the one that won) or last writer wins (`replace=True`: a provider saving a new
  KEK list under its own lock).
- `read_private_json`: the document, with a warning when others can read the file.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def parse_keys(text: str, *, setting: str, error: type[Exception]) -> dict[str, bytes]:
    """`kid:base64key,...` as {kid: key}; `error(detail)` for a bad item or none at all."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep:
            raise error(f"{key_id[:4]!r}...: expected kid:base64key")
        try:
            keys[key_id.strip()] = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise error(f"key {key_id.strip()!r} is not valid base64") from None
    if not keys:
        raise error(f"{setting} names no key")
    return keys


def write_private_json(path: Path, document: dict[str, Any], *, replace: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            with contextlib.suppress(FileExistsError):  # another process got there first
                os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_private_json(path: Path) -> Any:
    """The parsed document (json.JSONDecodeError, a ValueError, when it is not JSON)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s is readable by others (mode %o); chmod 600 it", path, mode)
    return json.loads(path.read_text())
