"""A restored ledger against what it must equal: the manifest's fingerprint at the
backup's point, its own journal, and the live source, with the first differing journal
position found by bisection over seq ranges (digests on both sides)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from paycore.dr import store
from paycore.dr.model import (
    Digest,
    Fingerprint,
    Manifest,
    Progress,
    Target,
    differences,
    first_differing,
)


def at_point(
    conn: Connection, manifest: Manifest, target: Target, restored: Fingerprint
) -> Fingerprint | None:
    """The restored ledger at the manifest's seq, when the restore reaches that far."""
    point = manifest.fingerprint.seq
    if restored.seq == point:
        return restored
    if restored.seq > point or target.is_backup_point:
        # Past the point: compare the prefix. Short of the backup's own point: a loss.
        return store.fingerprint(conn, point) if restored.seq > point else restored
    return None


def balance_problems(live: Digest, journal: Digest, seq: int) -> list[str]:
    if live == journal:
        return []
    return [
        f"accounts' balances differ from the journal's at seq {seq}: {live.rows} accounts "
        f"with a balance (journal: {journal.rows}), credits_posted {live.amount} "
        f"(journal: {journal.amount})"
    ]


def against_source(
    source_url: str, engine: Engine, restored: Fingerprint, progress: Progress
) -> tuple[int, list[str]]:
    """The source's fingerprint at the restored seq against the restored one; on a
    difference, where the journals first part."""
    with (
        store.open_engine(source_url) as source_engine,
        source_engine.connect() as source,
        engine.connect() as copy,
    ):
        expected = store.fingerprint(source, restored.seq)
        problems = differences(expected, restored)
        if problems:
            progress("bisecting the journals for the first difference")
            problems += _first_differences(copy, source, restored.seq)
    return expected.entries.rows, problems


def _first_differences(copy: Connection, source: Connection, seq: int) -> list[str]:
    found = []
    for part in ("entries", "transfers"):

        def same(lo: int, hi: int, part: str = part) -> bool:
            return store.digest(copy, part, lo=lo, hi=hi) == store.digest(
                source, part, lo=lo, hi=hi
            )

        first = first_differing(0, seq, same)
        if first is None:
            continue
        restored_entry = store.entry_at(copy, first)
        source_entry = store.entry_at(source, first)
        found.append(
            f"{part}: first difference at seq {first}: restored {_name(restored_entry)}, "
            f"source {_name(source_entry)}"
        )
    return found


def _name(entry: tuple[str, str] | None) -> str:
    return "nothing" if entry is None else f"transfer {entry[0]} (account {entry[1]})"
