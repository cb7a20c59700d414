"""A lock between processes of one machine that is taken or skipped, never waited for."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive_or_skip(path: Path) -> Iterator[bool]:
    """True while this process alone holds `path`'s lock; False at once if another does
    (the caller skips its turn). An flock: the kernel drops it when its holder dies, so a
    crash never blocks the next one."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
