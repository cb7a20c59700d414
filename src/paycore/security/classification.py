"""Every column paycore stores and every field of every file it writes, with its class
under JR/T 0171-2020 and how it is protected at rest today. Pure data.

Classes: **C3** authentication data (passwords, keys, full track data, CVV): never stored
in clear; a C3 column holds only a hash or a wrapped/encrypted key, and says which.
**C2** identity and account data of a natural person: names, ID numbers, card, bank and
virtual account numbers, phone numbers, addresses, and text or transaction details that
name a person. **C1** internal operational data: ids, amounts, statuses, dates, and the
pseudonymous user references a merchant chooses (wallet owners, tenants, recipients),
which identify nobody without the merchant's own records. **not_personal**: aggregates,
configuration, the platform's own bookkeeping.

Why amounts and dates of an order are C1 and not "transaction details tied to a person":
they name nobody; they become personal only through the order's C2 columns, and
protecting those (encrypted, masked) is what breaks the link. Text a merchant types about
a person's order (a description, metadata, a reward note) is C2: paycore cannot know it
holds no name, and merchants do put names there.

`at_rest` says what is true of the code today, not what it should be: an encrypted token
(FieldCipher), a masked value only (the clear value cannot be rebuilt from it), a blind
index (an HMAC to look up by), a hash, the clear value, or frozen (clear only in
immutable records from before the field was sealed). The test in
tests/security/test_classification.py fails when a table column or a file field written by
paycore has no entry here, or an entry names a column that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from paycore.security import classification_tables as tables


class Level(StrEnum):
    C3 = "C3"
    C2 = "C2"
    C1 = "C1"
    NOT_PERSONAL = "not_personal"


class AtRest(StrEnum):
    ENCRYPTED = "encrypted"  # a FieldCipher token (AES-256-GCM, key id, context)
    MASKED = "masked"  # only a masked form is kept
    BLIND_INDEXED = "blind_indexed"  # an HMAC of the value, to find rows by it
    HASHED = "hashed"  # a one-way hash, to compare with
    CLEAR = "clear"
    FROZEN = "frozen"
    """Clear only in records written before paycore sealed the field, which can never be
    rewritten (an append-only, hash-chained log): nothing new is written so."""


PROTECTED = frozenset({AtRest.ENCRYPTED, AtRest.HASHED})
"""What a C3 value may be kept as: never anything a reader can use as the secret."""


@dataclass(frozen=True, slots=True)
class Field:
    """One column (`where` is the table) or one field of a file kind (`where` its name)."""

    where: str
    name: str
    level: Level
    at_rest: AtRest = AtRest.CLEAR
    holds: str = ""  # what the value is (required for C3 and C2)
    written_by: str = ""  # file:function that writes it (required for C2 in clear)
    in_file: bool = False

    @property
    def key(self) -> str:
        return f"{self.where}:{self.name}" if self.in_file else f"{self.where}.{self.name}"


@dataclass(frozen=True, slots=True)
class FileKind:
    name: str
    path: str  # where it is written
    written_by: str
    fields: tuple[Field, ...]
    note: str = ""


PSEUDONYMS = tables.PSEUDONYMS


def _build() -> dict[str, dict[str, Field]]:
    found: dict[str, dict[str, Field]] = {}
    for table, specs in tables.TABLE_SPECS.items():
        columns: dict[str, Field] = {}
        for spec in specs:
            for name in spec.names:
                if name in columns:
                    raise ValueError(f"{table}.{name} is declared twice")
                level, at_rest = Level(spec.level), AtRest(spec.at_rest)
                columns[name] = Field(table, name, level, at_rest, spec.holds, spec.written_by)
        found[table] = columns
    return found


TABLES: Mapping[str, Mapping[str, Field]] = _build()


def column(table: str, name: str) -> Field | None:
    return TABLES.get(table, {}).get(name)


def unclassified(schema: Mapping[str, Iterable[str]]) -> list[str]:
    """`table.column` of every column in `schema` that has no entry here."""
    return sorted(
        f"{table}.{name}"
        for table, names in schema.items()
        for name in names
        if column(table, name) is None
    )


def undeclared(schema: Mapping[str, Iterable[str]]) -> list[str]:
    """Entries here naming a table or column that `schema` does not have."""
    real = {(table, name) for table, names in schema.items() for name in names}
    return sorted(
        f"{table}.{name}"
        for table, columns in TABLES.items()
        for name in columns
        if (table, name) not in real
    )


def table_fields() -> Iterator[Field]:
    for columns in TABLES.values():
        yield from columns.values()
