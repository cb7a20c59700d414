"""Coverage of personal data protection, computed from the classification registry. Pure.

How paycore's own figure is counted: one unit per table column and one per file field
(a field of a file kind, e.g. `h2h_pain001:creditor_name`), each as declared in
`classification.py` / `classification_files.py`. The share of C2 encrypted at rest is
encrypted / (encrypted + clear): the C2 fields that keep a full, recoverable value. A field
kept only masked, hashed or as a blind index holds no value to encrypt; those are counted
and shown beside it, and the share over every C2 field is given too. The goal is 100%:
no C2 value in clear at rest. A frozen field (clear only in immutable records written
before paycore sealed it: the audit log's old reasons) is no longer written in clear and
cannot be rewritten; it is listed on its own, outside the share, never hidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from paycore.security.classification import AtRest, Field, Level, table_fields
from paycore.security.classification_files import file_fields

GOAL_C2_ENCRYPTED = Fraction(1)
"""Every C2 value kept in full is encrypted at rest."""
SEED_FIGURE = "86%"
"""What the seed reported, counted we do not know how; ours is recomputed below."""


@dataclass(frozen=True, slots=True)
class LevelCoverage:
    level: Level
    classified: int
    columns: int
    file_fields: int
    by_protection: dict[AtRest, int]


@dataclass(frozen=True, slots=True)
class Inventory:
    levels: tuple[LevelCoverage, ...]
    c2_encrypted: int
    c2_full_value: int  # encrypted + clear
    c2_total: int
    c2_in_clear: tuple[Field, ...]
    c3_in_clear: tuple[Field, ...]
    c2_frozen: tuple[Field, ...] = ()

    @property
    def c2_encrypted_share(self) -> Fraction:
        return (
            Fraction(self.c2_encrypted, self.c2_full_value) if self.c2_full_value else Fraction(1)
        )

    @property
    def c2_encrypted_share_of_all(self) -> Fraction:
        return Fraction(self.c2_encrypted, self.c2_total) if self.c2_total else Fraction(1)


def percent(share: Fraction) -> str:
    """One decimal, rounded down: 99.96% is not shown as 100.0%."""
    tenths = share.numerator * 1000 // share.denominator
    return f"{tenths // 10}.{tenths % 10}%"


def _level(level: Level, fields: list[Field]) -> LevelCoverage:
    mine = [f for f in fields if f.level is level]
    return LevelCoverage(
        level=level,
        classified=len(mine),
        columns=sum(1 for f in mine if not f.in_file),
        file_fields=sum(1 for f in mine if f.in_file),
        by_protection={p: sum(1 for f in mine if f.at_rest is p) for p in AtRest},
    )


def inventory(fields: Iterable[Field] | None = None) -> Inventory:
    """Coverage of `fields` (default: every column and file field the registry declares)."""
    every = list(fields) if fields is not None else [*table_fields(), *file_fields()]
    c2 = [f for f in every if f.level is Level.C2]
    encrypted = sum(1 for f in c2 if f.at_rest is AtRest.ENCRYPTED)
    clear = tuple(f for f in c2 if f.at_rest is AtRest.CLEAR)
    return Inventory(
        levels=tuple(_level(level, every) for level in Level),
        c2_encrypted=encrypted,
        c2_full_value=encrypted + len(clear),
        c2_total=len(c2),
        c2_in_clear=clear,
        c3_in_clear=tuple(f for f in every if f.level is Level.C3 and f.at_rest is AtRest.CLEAR),
        c2_frozen=tuple(f for f in c2 if f.at_rest is AtRest.FROZEN),
    )


def _field_json(field: Field) -> dict[str, Any]:
    return {"field": field.key, "holds": field.holds, "written_by": field.written_by}


def to_json(found: Inventory) -> dict[str, Any]:
    """The inventory for machines: counts, the figure as a fraction and a percentage."""
    return {
        "levels": [
            {
                "level": c.level.value,
                "classified": c.classified,
                "columns": c.columns,
                "file_fields": c.file_fields,
                **{p.value: n for p, n in c.by_protection.items()},
            }
            for c in found.levels
        ],
        "c2_encrypted_at_rest": {
            "encrypted": found.c2_encrypted,
            "of_full_values": found.c2_full_value,
            "share": percent(found.c2_encrypted_share),
            "share_of_all_c2": percent(found.c2_encrypted_share_of_all),
            "c2_fields": found.c2_total,
            "goal": percent(GOAL_C2_ENCRYPTED),
            "seed_reported": SEED_FIGURE,
        },
        "c2_in_clear": [_field_json(f) for f in found.c2_in_clear],
        "c2_frozen": [_field_json(f) for f in found.c2_frozen],
        "c3_in_clear": [_field_json(f) for f in found.c3_in_clear],
    }
