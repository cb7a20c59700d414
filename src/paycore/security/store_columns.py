"""SQL of the encrypt backfill: pages of rows still holding a clear C2 value, and the
update that seals them. Generic over the columns security/columns_backfill.py names (light
`table()` definitions: the code's own tables no longer have the clear columns)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, TableClause, and_, bindparam, func, null, select, tuple_, update


def clear_page(
    conn: Connection,
    table: TableClause,
    *,
    keys: Sequence[str],
    clear: str,
    also: Sequence[str],
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Rows whose `clear` column still holds a value, in key order after `after`."""
    key_columns = [table.c[k] for k in keys]
    names = dict.fromkeys([*keys, clear, *also])
    query = select(*(table.c[n] for n in names)).where(table.c[clear].is_not(None))
    if after is not None:
        query = query.where(tuple_(*key_columns) > tuple_(*after))
    rows = conn.execute(query.order_by(*key_columns).limit(limit))
    return [dict(r._mapping) for r in rows]


def seal(
    conn: Connection,
    table: TableClause,
    *,
    keys: Sequence[str],
    clear: Sequence[str],
    values: Sequence[Mapping[str, Any]],
) -> None:
    """Writes each row's sealed columns and empties its clear ones (the first is the one
    the page was read by), in one executemany; a row emptied meanwhile (by another
    backfill) is left as it is. Each of `values` holds `k_<key>` for the row's keys and
    `v_<column>` for each sealed column."""
    if not values:
        return
    sealed_names = [n[2:] for n in values[0] if n.startswith("v_")]
    statement = (
        update(table)
        .where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in keys)))
        .where(table.c[clear[0]].is_not(None))
        # null(), not None: a JSON column would store None as the JSON text 'null'.
        .values({**dict.fromkeys(clear, null()), **{n: bindparam(f"v_{n}") for n in sealed_names}})
    )
    conn.execute(statement, list(values))


def count_clear(conn: Connection, table: TableClause, *, clear: str) -> int:
    query = select(func.count()).select_from(table).where(table.c[clear].is_not(None))
    return int(conn.execute(query).scalar_one())
