"""Reports over the warehouse: SQL files in warehouse/reports/, run unchanged on DuckDB and
on Spark (engines.py), their rows typed as the file declares, and checked against the
journal (report_checks.py).

A report is `reports/<name>.sql`: a header of `-- key: value` lines, then one SELECT.
Header keys: `title.zh`, `title.en`, `answers` (repeatable), `params`, `column: <name>
<type> | <meaning and unit>` (one per output column, in order; types date, string, int32,
int64), `check` (see `Check`) and `chart: bars x=<column> series=<column>,...`.

Parameters are `:name` tokens, replaced by literals the runner makes itself from a
validated month (`KNOWN_PARAMS`): no text a user typed ever reaches the SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from paycore.errors import InvariantViolation, Rejected
from paycore.warehouse.engines import ENGINES, Engine, open_engine
from paycore.warehouse.schemas import WAREHOUSE_ZONE

REPORTS_DIR = Path(__file__).with_name("reports")
TYPES = {"date": pa.date32(), "string": pa.string(), "int32": pa.int32(), "int64": pa.int64()}
KNOWN_PARAMS = ("month_start", "month_end", "next_month_start", "month_end_utc")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")  # not \d: it matches other scripts' digits
_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)\b")
_HEADER = re.compile(r"--\s*([a-z.]+):\s?(.*)")
_CHECK = re.compile(r"([a-z_0-9]+) = (debit|credit) (\*|[0-9]+) reason (\*|[0-9]+(?:,[0-9]+)*)")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    doc: str


@dataclass(frozen=True, slots=True)
class Check:
    """`-- check: <column> = <side> <account code|*> reason <transfer codes|*>`: per day and
    currency (and account code, with `*`), the column's sum over the report's rows equals
    the journal's posted entries on that side of accounts of that code, by transfers of
    those reason codes."""

    column: str
    side: str
    account_code: int | None
    reasons: frozenset[int] | None


@dataclass(frozen=True, slots=True)
class Chart:
    x: str
    series: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    title_zh: str
    title_en: str
    answers: str
    columns: tuple[Column, ...]
    checks: tuple[Check, ...]
    check_note: str
    chart: Chart | None
    sql: str

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, TYPES[c.type]) for c in self.columns])


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month of business days in Asia/Shanghai."""

    label: str
    start: date
    end: date  # the last day, inclusive

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(0), WAREHOUSE_ZONE).astimezone(UTC)

    @property
    def end_at(self) -> datetime:
        next_start = self.end + timedelta(days=1)
        return datetime.combine(next_start, time(0), WAREHOUSE_ZONE).astimezone(UTC)


def parse_month(text: str) -> Month:
    found = _MONTH.fullmatch(text)
    if not found or not 1 <= int(found[2]) <= 12 or not 2000 <= int(found[1]) <= 2999:
        raise Rejected("invalid_month", f"{text!r}: a month is YYYY-MM (2000-01 to 2999-12)")
    start = date(int(found[1]), int(found[2]), 1)
    next_start = (start + timedelta(days=31)).replace(day=1)
    return Month(text, start, next_start - timedelta(days=1))


def params_of(month: Month) -> dict[str, str]:
    """The SQL literal of each parameter: dates, and the month's end as a UTC instant."""
    end_at = month.end_at.strftime("%Y-%m-%d %H:%M:%S")
    return {
        "month_start": f"DATE '{month.start.isoformat()}'",
        "month_end": f"DATE '{month.end.isoformat()}'",
        "next_month_start": f"DATE '{(month.end + timedelta(days=1)).isoformat()}'",
        "month_end_utc": f"TIMESTAMP '{end_at}'",
    }


def render(report: Report, month: Month) -> str:
    literals = params_of(month)
    return _PARAM.sub(lambda m: literals[m[1]], report.sql)


def names() -> list[str]:
    return sorted(p.stem for p in REPORTS_DIR.glob("*.sql"))


def load(name: str) -> Report:
    if not _NAME.fullmatch(name) or name not in names():
        raise Rejected("unknown_report", f"{name!r}: `paycore reports list` names them")
    return _load(name)


@cache
def _load(name: str) -> Report:
    text = (REPORTS_DIR / f"{name}.sql").read_text(encoding="utf-8")
    header: dict[str, list[str]] = {}
    for line in text.splitlines():
        found = _HEADER.fullmatch(line.strip())
        if not line.startswith("--"):
            break
        if found:
            header.setdefault(found[1], []).append(found[2].strip())
    columns = tuple(_column(name, spec) for spec in header.get("column", []))
    checks, note = _checks(name, header.get("check", []))
    report = Report(
        name=name,
        title_zh=" ".join(header.get("title.zh", [])),
        title_en=" ".join(header.get("title.en", [])),
        answers=" ".join(header.get("answers", [])),
        columns=columns,
        checks=checks,
        check_note=note,
        chart=_chart(name, header.get("chart", [])),
        sql=text,
    )
    _validate(report)
    return report


def _column(report: str, spec: str) -> Column:
    head, _, doc = spec.partition("|")
    parts = head.split()
    if len(parts) != 2 or parts[1] not in TYPES:
        raise InvariantViolation(f"{report}: bad column header {spec!r}")
    return Column(parts[0], parts[1], doc.strip())


def _checks(report: str, specs: list[str]) -> tuple[tuple[Check, ...], str]:
    checks, notes = [], []
    for spec in specs:
        if spec.startswith("none"):
            notes.append(spec.removeprefix("none").lstrip(": "))
            continue
        found = _CHECK.fullmatch(spec)
        if not found:
            raise InvariantViolation(f"{report}: bad check header {spec!r}")
        code = None if found[3] == "*" else int(found[3])
        reasons = None if found[4] == "*" else frozenset(int(r) for r in found[4].split(","))
        checks.append(Check(found[1], found[2], code, reasons))
    return tuple(checks), " ".join(notes)


def _chart(report: str, specs: list[str]) -> Chart | None:
    if not specs:
        return None
    found = re.fullmatch(r"bars x=([a-z_0-9]+) series=([a-z_0-9,]+)", specs[0])
    if not found:
        raise InvariantViolation(f"{report}: bad chart header {specs[0]!r}")
    return Chart(found[1], tuple(found[2].split(",")))


def _validate(report: Report) -> None:
    """A report file's header must match its SQL: caught by the tests, never at a user."""
    columns = {c.name for c in report.columns}
    unknown = set(_PARAM.findall(report.sql)) - set(KNOWN_PARAMS)
    problems = [f"unknown parameter :{p}" for p in sorted(unknown)]
    if not report.title_zh or not report.title_en or not report.columns:
        problems.append("title.zh, title.en and columns are required")
    needed = {c.column for c in report.checks} | ({"dt", "currency"} if report.checks else set())
    if any(c.account_code is None for c in report.checks):
        needed.add("account_code")
    if report.chart:
        needed |= {report.chart.x, *report.chart.series}
    problems += [f"no column {n}" for n in sorted(needed - columns)]
    if problems:
        raise InvariantViolation(f"{report.name}: " + "; ".join(problems))


def conform(report: Report, table: pa.Table) -> pa.Table:
    """The engine's rows in the declared columns and types (DuckDB sums are HUGEINT, Spark
    strings may come large): a column missing, extra or out of order is a broken report."""
    if table.column_names != [c.name for c in report.columns]:
        raise InvariantViolation(
            f"{report.name}: columns {table.column_names} are not the declared ones"
        )
    return table.cast(report.schema)


def run_on(engine: Engine, report: Report, month: Month) -> pa.Table:
    """The report's rows for the month, on an engine already over the warehouse."""
    return conform(report, engine.run(render(report, month)))


def as_tuples(table: pa.Table) -> list[tuple[Any, ...]]:
    """The rows as tuples, in the declared columns' order."""
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def open_warehouse(root: Path, engine: str = "duckdb") -> Engine:
    if engine not in ENGINES:
        raise Rejected("unknown_engine", f"{engine!r}: one of {', '.join(ENGINES)}")
    if not root.is_dir():
        raise Rejected("warehouse_not_found", f"{root}: no warehouse there (export first)")
    try:
        return open_engine(engine, root)
    except (ImportError, RuntimeError) as error:  # pyspark is a development extra; java?
        raise Rejected("engine_unavailable", f"{engine}: {error}") from None
