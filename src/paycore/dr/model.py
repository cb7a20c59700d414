"""Disaster recovery's records: a backup's manifest, the ledger's fingerprint at a point of
its journal, and what a restore-check found. Pure: no SQL, no processes.

A fingerprint is what two copies of the ledger must share if they hold the same journal up
to `seq`: counts, sums and an order-independent digest (the sum of each row's 64-bit hash,
kept as two 32-bit halves so that the sum fits a 64-bit integer for 2^31 rows) of the
entries with `seq <= seq`, of the transfers those entries belong to, and of every account's
balances as of `seq` (the snapshot in its last entry at or before it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from paycore.errors import Rejected

MANIFEST_NAME = "paycore-backup.json"
MANIFEST_VERSION = 1
SQLITE_FILE_NAME = "paycore.db"
PG_BASE_DIR = "base"
PG_WAL_DIR = "wal"

# Limits, named once.
RECOVERY_TIMEOUT_S = 600.0
"""How long a temporary postmaster may take to reach its recovery target and open."""
ARCHIVE_WAIT_S = 60.0
"""How long the backup waits for the WAL streamer to receive the backup's point."""
PROCESS_TIMEOUT_S = 3600.0
"""The longest a base backup, a verification or a copy may run."""
POLL_S = 0.05
DIFFERENCES_NAMED_MAX = 20
"""At most this many differing rows are named one by one; the rest are counted."""


Progress = Callable[[str], None]
"""Told the name of each step as it starts (the CLI shows it)."""


class Kind(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


@dataclass(frozen=True, slots=True)
class Digest:
    """count, sum of amounts, and the two halves of the summed row hashes of one part."""

    rows: int
    amount: int
    hash_high: int
    hash_low: int


@dataclass(frozen=True, slots=True)
class Fingerprint:
    seq: int
    entries: Digest
    transfers: Digest
    balances: Digest  # amount: the sum of credits_posted, which must agree as well

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Fingerprint:
        return cls(
            seq=int(raw["seq"]),
            entries=Digest(**raw["entries"]),
            transfers=Digest(**raw["transfers"]),
            balances=Digest(**raw["balances"]),
        )


PARTS = ("entries", "transfers", "balances")


def differences(expected: Fingerprint, actual: Fingerprint) -> list[str]:
    """Each part and field in which `actual` differs from `expected`, said plainly."""
    found: list[str] = []
    if expected.seq != actual.seq:
        found.append(f"journal point: seq {actual.seq}, expected {expected.seq}")
    for part in PARTS:
        want: Digest = getattr(expected, part)
        got: Digest = getattr(actual, part)
        if want.rows != got.rows:
            found.append(f"{part}: {got.rows} rows, expected {want.rows}")
        if want.amount != got.amount:
            found.append(f"{part}: amounts sum to {got.amount}, expected {want.amount}")
        if (want.hash_high, want.hash_low) != (got.hash_high, got.hash_low):
            found.append(f"{part}: digest differs (a row's content changed)")
    return found


@dataclass(frozen=True, slots=True)
class Point:
    """Where a backup stands: the journal's last seq, and on PostgreSQL the WAL position and
    the named restore point a restore recovers to."""

    seq: int
    lsn: str | None = None
    restore_point: str | None = None
    timeline: int | None = None


@dataclass(frozen=True, slots=True)
class Copied:
    """What a backup of either kind hands to the manifest."""

    point: Point
    fingerprint: Fingerprint
    files: dict[str, str] = field(default_factory=dict)
    base_lsn: dict[str, str] = field(default_factory=dict)
    sealed: Sealed | None = None


@dataclass(frozen=True, slots=True)
class Sealed:
    """What sealing a backup did: its data files sealed (`<name>.enc`), their clear size,
    and the time it took (the cost encryption adds to a backup)."""

    files: int
    clear_bytes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "clear_bytes": self.clear_bytes,
                "seconds": round(self.seconds, 3)}  # fmt: skip

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Sealed:
        return cls(int(raw["files"]), int(raw["clear_bytes"]), float(raw["seconds"]))


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: Kind
    source_url: str  # without its password
    created_at: datetime
    point: Point
    fingerprint: Fingerprint
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256 (SQLite's file)
    base_lsn: dict[str, str] = field(default_factory=dict)  # start/end of the base backup
    took_s: float = 0.0
    encrypted: bool = False
    """Whether the data files are sealed; False only for `--no-encrypt` (and backups made
    before encryption was the default)."""
    sealed: Sealed | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "kind": self.kind.value,
            "source_url": self.source_url,
            "created_at": self.created_at.isoformat(),
            "point": asdict(self.point),
            "fingerprint": self.fingerprint.to_dict(),
            "files": dict(self.files),
            "base_lsn": dict(self.base_lsn),
            "took_s": round(self.took_s, 3),
            "encrypted": self.encrypted,
            "sealed": self.sealed.to_dict() if self.sealed else None,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Manifest:
        if raw.get("version") != MANIFEST_VERSION:
            raise Rejected("backup_manifest_invalid", f"unknown version {raw.get('version')!r}")
        try:
            files = dict(raw.get("files", {}))
            sealed = raw.get("sealed")
            return cls(
                kind=Kind(raw["kind"]),
                source_url=str(raw["source_url"]),
                created_at=datetime.fromisoformat(raw["created_at"]),
                point=Point(**raw["point"]),
                fingerprint=Fingerprint.from_dict(raw["fingerprint"]),
                files=files,
                base_lsn=dict(raw.get("base_lsn", {})),
                took_s=float(raw.get("took_s", 0.0)),
                # Before the flag: only a SQLite copy could be sealed, and its name said so.
                encrypted=bool(raw.get("encrypted", SQLITE_FILE_NAME + ".enc" in files)),
                sealed=Sealed.from_dict(sealed) if sealed else None,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise Rejected("backup_manifest_invalid", str(error)) from error


@dataclass(frozen=True, slots=True)
class Target:
    """Where a PostgreSQL restore stops: the backup's own point unless told otherwise."""

    time: datetime | None = None
    lsn: str | None = None

    @property
    def is_backup_point(self) -> bool:
        return self.time is None and self.lsn is None


@dataclass(frozen=True, slots=True)
class Step:
    """One stage of a restore-check, as the report's table shows it."""

    name: str
    seconds: float
    rows: int
    ok: bool
    detail: str = ""


@dataclass(slots=True)
class RestoreReport:
    kind: Kind
    steps: list[Step] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    restored_seq: int = 0
    restore_s: float = 0.0
    check_s: float = 0.0
    cpu_s: float = 0.0  # this process (on SQLite, all the database's work)
    server_cpu_s: float = 0.0  # the temporary postmaster's processes (PostgreSQL)

    @property
    def ok(self) -> bool:
        return not self.mismatches and all(step.ok for step in self.steps)

    def add(self, step: Step, problems: list[str] | None = None) -> None:
        self.steps.append(step)
        self.mismatches.extend(f"{step.name}: {p}" for p in problems or [])


def first_differing(lo: int, hi: int, same: Any) -> int | None:
    """The smallest seq in [lo, hi] at which two journals first differ, by bisection:
    `same(lo, hi)` says whether the ranges' digests agree. None if the whole range agrees."""
    if same(lo, hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if same(lo, mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


def without_password(url: str) -> str:
    """A database URL fit for a manifest: the password, if any, replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in credentials else ''}@{host}"
