"""Round-tripping and cycles between wallets: a bounded graph search on DuckDB.

Typology: money leaves an owner and comes back to it through one to three other owners
(A -> B -> A, A -> B -> C -> A, ...) within `max_hours`, each hop passing on between
`min_hop_ratio` and 105 % of what it received (a little may be shaved off as a fee), each
hop later than the one before, every hop at least `min_amount_minor`. Every owner on such
a cycle gets a reason. A split leg clawed back (A -> B -> A) is a two-hop cycle too, but
of a share of a sale, below `min_amount_minor`.

The search is a chain of self-joins on the owner -> owner transfers, one query per cycle
length; edges that cannot lie on any cycle (their source receives nothing, or their
target sends nothing) are pruned first, which leaves only a sliver of the graph.
"""

from __future__ import annotations

from typing import Any

import duckdb

from paycore.aml.params import Cycle

CYCLES_MAX = 10_000
"""Cycles kept per length: a bound on a pathological graph, far above any real case."""
_HOP_RATIO_MAX = 1.05


def prepare_edges(con: duckdb.DuckDBPyConnection, params: Cycle) -> int:
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE cycle_edges AS
        SELECT id, src, dst, amount, local_at FROM tr
        WHERE src IS NOT NULL AND dst IS NOT NULL AND src <> dst AND amount >= $min_amount
        """,
        {"min_amount": params.min_amount_minor},
    )
    for _ in range(params.max_length):
        con.execute(
            """
            DELETE FROM cycle_edges
            WHERE src NOT IN (SELECT dst FROM cycle_edges)
               OR dst NOT IN (SELECT src FROM cycle_edges)
            """
        )
    row = con.execute("SELECT count(*) FROM cycle_edges").fetchone()
    return int(row[0]) if row else 0


def _query(length: int) -> str:
    joins = []
    for k in range(2, length + 1):
        prev = f"e{k - 1}"
        joins.append(
            f"JOIN cycle_edges e{k} ON e{k}.src = {prev}.dst"
            f" AND e{k}.local_at > {prev}.local_at"
            f" AND e{k}.amount >= $ratio * {prev}.amount"
            f" AND e{k}.amount <= {_HOP_RATIO_MAX} * {prev}.amount"
        )
    nodes = [f"e{k}.src" for k in range(1, length + 1)]
    distinct = [f"{a} <> {b}" for i, a in enumerate(nodes) for b in nodes[i + 1 :]]
    where = [
        f"e{length}.dst = e1.src",
        f"e{length}.local_at <= e1.local_at + to_hours(CAST($max_hours AS BIGINT))",
        *distinct,
    ]
    ids = ", ".join(f"e{k}.id" for k in range(1, length + 1))
    return (
        f"SELECT [{', '.join(nodes)}] AS members, [{ids}] AS ids, e1.amount AS amount,"
        f" date_diff('minute', e1.local_at, e{length}.local_at) AS minutes"
        f" FROM cycle_edges e1 {' '.join(joins)} WHERE {' AND '.join(where)}"
        f" ORDER BY e1.local_at, e1.id LIMIT {CYCLES_MAX}"
    )


def find_cycles(con: duckdb.DuckDBPyConnection, params: Cycle) -> list[dict[str, Any]]:
    """Rows in the shape of the SQL rules: one per owner per cycle found."""
    if prepare_edges(con, params) == 0:
        return []
    rows: list[dict[str, Any]] = []
    for length in range(max(2, params.min_length), params.max_length + 1):
        found = con.execute(
            _query(length), {"ratio": params.min_hop_ratio, "max_hours": params.max_hours}
        ).fetchall()
        for members, ids, amount, minutes in found:
            for member in members:
                rows.append(
                    {
                        "subject_type": "owner" if ":" in member else "merchant",
                        "subject_id": member,
                        "length": length,
                        "amount_minor": amount,
                        "hours": minutes // 60,
                        "path": " -> ".join([*members, members[0]]),
                        "severity": 1.0,
                        "transaction_ids": list(ids),
                        "transaction_count": len(ids),
                    }
                )
    return rows
