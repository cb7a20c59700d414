"""Running the rules over a warehouse on DuckDB, and turning their rows into reasons.

Each rule is a SQL file in rules/ (cycles.py for the graph search) with `$name`
parameters from its dataclass in params.py plus `$ids_max`. A rule's query returns one
row per finding: subject_type, subject_id, severity (how many times its bar the finding
reached, >= 1), transaction_ids (capped), transaction_count, and named facts, which the
words (words.py) and the reason keep.

A reason's weight: the rule's `points` + min(bonus_max, bonus_per_severity *
floor(severity - 1)); integer, never below the rule's points.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from paycore.aml.cycles import find_cycles
from paycore.aml.model import TRANSACTION_IDS_MAX, Reason, SubjectType, Typology
from paycore.aml.params import Params, Scoring
from paycore.aml.words import WORDS
from paycore.warehouse.schemas import BY_NAME, PARTITION

RULES_DIR = Path(__file__).parent / "rules"
RULE_NAMES: tuple[str, ...] = tuple(t.value for t in Typology)
TABLES_READ = ("ledger_transfers", "payment_orders")
_PARAM = re.compile(r"\$([a-z_]+)")
_KNOWN = ("subject_type", "subject_id", "severity", "transaction_ids", "transaction_count")


@dataclass(frozen=True)
class RuleRun:
    rule: str
    reasons: tuple[Reason, ...]
    seconds: float


@contextmanager
def open_warehouse(
    root: Path, *, threads: int | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with a view per table the rules read; a table the warehouse
    does not hold yet reads as empty, in its contract schema."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        for name in TABLES_READ:
            files = list((root / name).glob(f"{PARTITION}=*/*.parquet"))
            if files:
                pattern = str(root / name / f"{PARTITION}=*" / "*.parquet").replace("'", "''")
                con.execute(
                    f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{pattern}',"
                    " hive_partitioning = true, union_by_name = true)"
                )
            else:
                empty = pa.Table.from_batches([], schema=BY_NAME[name].schema)
                con.register(name, empty)
        yield con
    finally:
        con.close()


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    con.execute((RULES_DIR / "_prep.sql").read_text(encoding="utf-8"))


def run_rule(con: duckdb.DuckDBPyConnection, rule: str, params: Params) -> RuleRun:
    started = time.perf_counter()
    rule_params = getattr(params, rule)
    if rule == Typology.CYCLE:
        rows = find_cycles(con, rule_params)
    else:
        rows = _run_sql(con, rule, {**asdict(rule_params), "ids_max": TRANSACTION_IDS_MAX})
    weigh = _weigher(rule_params.points, params.scoring)
    reasons = tuple(_reason(rule, row, weigh) for row in rows)
    return RuleRun(rule, reasons, time.perf_counter() - started)


def _run_sql(
    con: duckdb.DuckDBPyConnection, rule: str, values: dict[str, Any]
) -> list[dict[str, Any]]:
    sql = (RULES_DIR / f"{rule}.sql").read_text(encoding="utf-8")
    used = {name: _sql_value(values[name]) for name in set(_PARAM.findall(sql))}
    cursor = con.execute(sql, used)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _sql_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _weigher(points: int, scoring: Scoring) -> Callable[[float], int]:
    def weigh(severity: float) -> int:
        extra = max(0, int(severity) - 1)
        return points + min(scoring.bonus_max, scoring.bonus_per_severity * extra)

    return weigh


def _reason(rule: str, row: dict[str, Any], weigh: Callable[[float], int]) -> Reason:
    facts = {k: _fact(v) for k, v in row.items() if k not in _KNOWN}
    return Reason(
        rule=rule,
        typology=Typology(rule),
        subject_type=SubjectType(row["subject_type"]),
        subject_id=str(row["subject_id"]),
        words=WORDS[rule](facts),
        weight=weigh(float(row["severity"] or 1.0)),
        transaction_ids=tuple(row["transaction_ids"][:TRANSACTION_IDS_MAX]),
        transaction_count=int(row["transaction_count"]),
        facts=facts,
    )


def _fact(value: Any) -> int | float | str:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        return value
    return str(value)
