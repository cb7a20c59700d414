"""The inbound folder of a host-to-host bank: its status reports and statements, applied
as they arrive.

A bank reached host-to-host drops its files into `files_dir/inbound/` (SFTP-style), writing
each as `<name>.part` and renaming it when whole, so a `.part` file is never read. Each
file is recognised by the XML namespace of its root: a pain.002 goes through the h2h
service's status apply, a camt.053 or camt.054 is imported with the channel as source and
every business day its lines cover is run. Then the file moves to `inbound/processed/`;
one that cannot be applied moves to `inbound/rejected/` beside `<name>.error.txt` naming
the stable code and detail. Moved files name payers and their accounts, so with the
recon's cipher they are kept encrypted as `<name>.enc` (security/files.py) and the clear
file the bank dropped is removed; the retention purge removes them in time.

Crash-safe by order: a file is moved only after it was applied, and applying it again is a
no-op (imports are remembered by the file's hash, reports by theirs), so a crash before the
move only repeats harmless work on the next tick. An error that is not the file's fault (the
database away, a full disk) leaves the file where it is, to be tried on the next tick.
Every `serve` worker runs the tick: one at a time collects a channel's inbox (a lock file
beside it, `_collecting`), the others skip it for that tick.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from paycore.channels.h2h import H2hBankChannel
from paycore.channels.registry import ChannelRegistry
from paycore.errors import Rejected
from paycore.platform.locks import exclusive_or_skip
from paycore.recon import store, xsd
from paycore.recon.h2h_service import H2hFiles
from paycore.recon.pain import PAIN002_NAMESPACE
from paycore.recon.service import Recon
from paycore.security import files as sealed_files

log = logging.getLogger(__name__)

INBOUND_DIR = "inbound"
PROCESSED_DIR = "processed"
REJECTED_DIR = "rejected"
PART_SUFFIX = ".part"
"""The bank writes `<name>.part` and renames it when the file is whole."""
ERROR_SUFFIX = ".error.txt"
FILES_PER_TICK_MAX = 100
"""Files taken from one channel's inbox in one tick; the rest wait for the next, so a bank
that drops thousands of files does not hold up the rest of the flows worker."""
DAYS_PER_STATEMENT_MAX = 62
"""Business days run for one statement file; a file covering more is refused."""
SAME_NAME_MAX = 1_000
"""Files of the same name kept in processed/ or rejected/ (a bank reusing a name)."""
LOCK_NAME = "inbound.lock"
"""Beside `inbound/`, not in it: held by the one worker collecting the inbox."""

KIND_OF_FAMILY = {"camt.052": "camt052", "camt.053": "camt053", "camt.054": "camt054"}
"""Statement message families the inbox imports, and the import format of each."""
PAIN002 = "pain002"
INBOUND_FILE_KIND = "h2h_inbound_statement"
"""The file kind a kept bank file's data key is sealed under (security/files.py)."""


@dataclass(frozen=True, slots=True)
class InboxItem:
    """What became of one file."""

    channel: str
    name: str
    kind: str  # pain002 | camt052 | camt053 | camt054 | unknown
    moved_to: str  # processed | rejected
    detail: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "file": self.name,
            "kind": self.kind,
            "moved_to": self.moved_to,
            **self.detail,
        }


class H2hInbox:
    def __init__(self, *, recon: Recon, channels: ChannelRegistry, files: H2hFiles) -> None:
        self._recon = recon
        self._channels = channels
        self._files = files

    def banks(self) -> list[H2hBankChannel]:
        """Every host-to-host channel of the registry, by name."""
        found = (self._channels.get(name) for name in sorted(self._channels.names()))
        return [channel for channel in found if isinstance(channel, H2hBankChannel)]

    def tick(self) -> list[InboxItem]:
        """Collect every h2h channel's inbox; one channel failing does not stop the others."""
        done: list[InboxItem] = []
        for bank in self.banks():
            try:
                done += self.collect(bank)
            except Exception:
                log.exception("h2h inbox of %s: stopped, tried again on the next tick", bank.name)
        return done

    def collect(self, bank: H2hBankChannel) -> list[InboxItem]:
        """Apply and move every whole file waiting in the channel's inbox, oldest first;
        nothing when another worker is collecting it right now (its tick takes them)."""
        inbound = inbound_dir(bank)
        inbound.mkdir(parents=True, exist_ok=True)
        with _collecting(bank) as ours:
            if not ours:
                return []
            waiting = sorted(
                (p for p in inbound.iterdir() if p.is_file() and not p.name.endswith(PART_SUFFIX)),
                key=lambda p: (p.stat().st_mtime_ns, p.name),
            )
            return [self._take(bank, path) for path in waiting[:FILES_PER_TICK_MAX]]

    def _take(self, bank: H2hBankChannel, path: Path) -> InboxItem:
        kind = "unknown"
        try:
            kind = kind_of(path)
            detail = self._apply(bank, path, kind)
        except Rejected as refused:
            _move(path, path.parent / REJECTED_DIR, cipher=self._recon.cipher, error=refused)
            log.warning("h2h inbox of %s: %s rejected: %s", bank.name, path.name, refused)
            detail = {"code": refused.code, "detail": refused.detail}
            return InboxItem(bank.name, path.name, kind, REJECTED_DIR, detail)
        _move(path, path.parent / PROCESSED_DIR, cipher=self._recon.cipher)
        log.info("h2h inbox of %s: %s applied as %s", bank.name, path.name, kind)
        return InboxItem(bank.name, path.name, kind, PROCESSED_DIR, detail)

    def _apply(self, bank: H2hBankChannel, path: Path, kind: str) -> dict[str, Any]:
        if kind == PAIN002:
            return self._files.apply_status_report(path).view()
        imported, new = self._recon.import_file(path, format=kind, source=bank.name)
        runs = [
            _run_view(self._recon.run(source=bank.name, business_date=day))
            for day in self._days_of(str(imported["id"]))
        ]
        return {"import_id": imported["id"], "new": new, "runs": runs}

    def _days_of(self, import_id: str) -> list[date]:
        """The business days of an import's lines: the days its runs must match."""
        with self._recon.engine.connect() as conn:
            days = store.business_days_of(conn, import_id, limit=DAYS_PER_STATEMENT_MAX + 1)
        if len(days) > DAYS_PER_STATEMENT_MAX:
            raise Rejected(
                "statement_too_long", f"more than {DAYS_PER_STATEMENT_MAX} business days"
            )
        return days


def inbound_dir(bank: H2hBankChannel) -> Path:
    return bank.settings.files_dir / INBOUND_DIR


@contextmanager
def _collecting(bank: H2hBankChannel) -> Iterator[bool]:
    """True while this worker alone collects the channel's inbox. Every `serve` worker runs
    the same tick: two of them taking the same file would apply it twice at once and then
    trip over each other's move (one finds the file gone, or moves a newer file of the
    same name into rejected/). An exclusive lock on a file beside the inbox, not waited
    for; the kernel drops it when a worker dies, so a crash never blocks the inbox."""
    with exclusive_or_skip(bank.settings.files_dir / LOCK_NAME) as held:
        yield held


def kind_of(path: Path) -> str:
    """pain002, camt052, camt053 or camt054, from the namespace of the file's root element."""
    namespace = xsd.root_namespace(path)  # MalformedStatement if it is not XML at all
    if namespace == PAIN002_NAMESPACE:
        return PAIN002
    message = namespace.removeprefix(xsd.ISO_NAMESPACE_PREFIX)
    kind = (
        KIND_OF_FAMILY.get(message[:8]) if namespace.startswith(xsd.ISO_NAMESPACE_PREFIX) else None
    )
    if kind is None:
        raise Rejected(
            "unsupported_inbound_file",
            f"namespace {namespace!r} is neither pain.002.001.03 nor camt.052/053/054",
        )
    return kind


def _run_view(run: dict[str, Any]) -> dict[str, Any]:
    names = ("id", "business_date", "lines", "matched", "waiting", "breaks_new")
    view = {name: run[name] for name in names}
    view["business_date"] = str(run["business_date"])
    return view


def _move(
    path: Path,
    folder: Path,
    *,
    cipher: sealed_files.FieldSealer | None,
    error: Rejected | None = None,
) -> None:
    """Move `path` into `folder` under a name not taken yet (sealed as `<name>.enc` with a
    cipher, then the clear file removed); with `error`, write its `.error.txt` first, so
    a rejected file is never there without its reason."""
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, path.name)
    if error is not None:
        note = folder / f"{target.name}{ERROR_SUFFIX}"
        partial = note.with_name(note.name + PART_SUFFIX)
        partial.write_text(f"code: {error.code}\ndetail: {error.detail}\n", encoding="utf-8")
        os.replace(partial, note)
    if cipher is None:
        os.replace(path, target)
        return
    sealed = target.with_name(target.name + sealed_files.SEALED_SUFFIX)
    sealed_files.seal_file(path, sealed, cipher, kind=INBOUND_FILE_KIND)
    path.unlink()


def _free_name(folder: Path, name: str) -> Path:
    """`name`, or `name.1`, `name.2`... when a bank sent a file of that name before (kept
    in clear or sealed)."""
    for attempt in range(SAME_NAME_MAX):
        candidate = folder / (name if attempt == 0 else f"{name}.{attempt}")
        sealed = candidate.with_name(candidate.name + sealed_files.SEALED_SUFFIX)
        if not candidate.exists() and not sealed.exists():
            return candidate
    raise Rejected("inbox_name_exhausted", f"{SAME_NAME_MAX} files named {name} in {folder}")
