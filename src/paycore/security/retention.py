"""Files paycore keeps are removed once older than their kind's retention.

Kinds, where they live and the default retention (PAYCORE_FILE_RETENTION_DAYS overrides
any of them, `statement=365,export=3`):

- statement: `<data dir>/recon/<channel>/*.statement*`, 180 days. The lines are in the
  database (counterparty encrypted); the file is evidence for a break or a chargeback,
  which card schemes allow up to 120 days after the transaction, plus time to answer.
- inbound: `<files dir>/inbound/processed|rejected/*`, 180 days, for the same reason.
- h2h_outbound: `<files dir>/*.pain.001.xml.enc` (kept sealed) and `*.pain.001.xml`
  (written in clear before they were sealed), 7 days. The bank takes a file within
  hours; paycore rebuilds it byte for byte from the database if it is asked again.
- export: `<data dir>/exports/*`, 7 days. A copy made for a merchant to download; the
  bills worker expires its link at 7 days too.

Transaction records are kept five years (PBOC's rules for payment institutions) in the
database and the journal, not in these files: purging a file loses no record. Backups
(`paycore dr backup --to DIR`) live where the operator put them and are not purged here.

Age is the file's modification time against the injected clock. A purge removes at most
PURGE_FILES_MAX files per run (the rest go on the next run) and never follows a symlink.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from paycore.channels.h2h import H2hBankChannel
from paycore.channels.registry import ChannelRegistry
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.platform.config import Settings

log = logging.getLogger(__name__)

DEFAULT_DAYS: Mapping[str, int] = {
    "statement": 180,
    "inbound": 180,
    "h2h_outbound": 7,
    "export": 7,
}
DAYS_MAX = 3650
PURGE_FILES_MAX = 10_000
"""Files removed by one run; a backlog is worked off over several runs."""
PURGE_INTERVAL_S = 3600
"""How often the serve worker purges: retention is counted in days."""


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    folder: Path
    patterns: tuple[str, ...]
    days: int
    recursive: bool = False  # one level of sub-folders (a channel's folder)


@dataclass(slots=True)
class Purged:
    dry_run: bool
    removed: dict[str, int] = field(default_factory=dict)
    bytes_by_kind: dict[str, int] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)

    def view(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "removed": dict(self.removed),
            "bytes": dict(self.bytes_by_kind),
        }


def parse_days(text: str) -> dict[str, int]:
    """`kind=days,...` over the defaults; a kind not known or days out of 1..DAYS_MAX is
    `invalid_retention` (a typo must not silently keep files forever)."""
    days = dict(DEFAULT_DAYS)
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        kind, sep, value = item.partition("=")
        kind = kind.strip()
        if not sep or kind not in DEFAULT_DAYS or not value.strip().isdigit():
            raise Rejected(
                "invalid_retention", f"{item!r}: expected kind=days, kinds {sorted(DEFAULT_DAYS)}"
            )
        if not 1 <= int(value) <= DAYS_MAX:
            raise Rejected("invalid_retention", f"{kind}: days must be 1..{DAYS_MAX}")
        days[kind] = int(value)
    return days


def rules_of(data_dir: Path, h2h_dirs: Iterable[Path], days: Mapping[str, int]) -> list[Rule]:
    """The rules for one deployment: its data dir and each host-to-host bank's files dir."""
    rules = [
        Rule("statement", data_dir / "recon", ("*.statement*",), days["statement"], True),
        Rule("export", data_dir / "exports", ("*",), days["export"]),
    ]
    for folder in sorted(set(h2h_dirs)):
        for sub in ("processed", "rejected"):
            rules.append(Rule("inbound", folder / "inbound" / sub, ("*",), days["inbound"]))
        outbound = ("*.pain.001.xml.enc", "*.pain.001.xml")  # sealed; clear ones of before
        rules.append(Rule("h2h_outbound", folder, outbound, days["h2h_outbound"]))
    return rules


class Retention:
    def __init__(self, rules: Iterable[Rule], *, clock: Clock) -> None:
        self.rules = list(rules)
        self._clock = clock

    def due(self) -> Iterator[tuple[Rule, Path, int]]:
        """(rule, file, size) of every file past its retention."""
        now = self._clock.now()
        for rule in self.rules:
            bound = (now - timedelta(days=rule.days)).timestamp()
            for path, stat in _files(rule):
                if stat.st_mtime < bound:
                    yield rule, path, stat.st_size

    def purge(self, *, dry_run: bool = False) -> Purged:
        done = Purged(dry_run)
        for rule, path, size in self.due():
            if len(done.paths) >= PURGE_FILES_MAX:
                break
            if not dry_run:
                try:
                    path.unlink()
                except FileNotFoundError:  # another worker purged it first
                    continue
            done.paths.append(path)
            done.removed[rule.kind] = done.removed.get(rule.kind, 0) + 1
            done.bytes_by_kind[rule.kind] = done.bytes_by_kind.get(rule.kind, 0) + size
        if done.paths and not dry_run:
            log.info("retention: purged %s", done.removed)
        return done

    def run_worker(self, stop: threading.Event, interval_s: float = PURGE_INTERVAL_S) -> None:
        """Purge every `interval_s` until `stop` (the serve worker)."""
        while True:
            try:
                self.purge()
            except Exception:
                log.exception("retention purge failed; tried again next interval")
            if stop.wait(interval_s):
                return


def run_retention_worker(retention: Retention, *, interval_s: float, stop: threading.Event) -> None:
    retention.run_worker(stop, interval_s)


def _files(rule: Rule) -> Iterator[tuple[Path, os.stat_result]]:
    folders = [rule.folder]
    if rule.recursive:
        found = _entries(rule.folder)
        folders += [Path(entry.path) for entry in found if entry.is_dir(follow_symlinks=False)]
    for folder in folders:
        for entry in _entries(folder):
            if not entry.is_file(follow_symlinks=False):
                continue
            if any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in rule.patterns):
                yield Path(entry.path), entry.stat(follow_symlinks=False)


def _entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            yield from found
    except (FileNotFoundError, NotADirectoryError):
        return


def retention_for(settings: Settings, channels: ChannelRegistry, *, clock: Clock) -> Retention:
    """The deployment's retention: PAYCORE_FILE_RETENTION_DAYS (Settings.file_retention_days)
    over the defaults, the data dir and every host-to-host bank's files dir."""
    days = parse_days(settings.file_retention_days)
    found = (channels.get(name) for name in channels.names())
    h2h_dirs = [bank.settings.files_dir for bank in found if isinstance(bank, H2hBankChannel)]
    return Retention(rules_of(Path(settings.data_dir), h2h_dirs, days), clock=clock)
