"""The warehouse's files: Parquet written under hidden names, fsynced, then renamed into
place, so a reader (DuckDB, Spark) sees a partition's old file or its new one, whole, and
never a part of one.

Hidden names start with `.` and do not end in `.parquet`: no engine's glob or partition
discovery picks them up, and a crash leaves only such names behind (swept at the next run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from paycore.platform.locks import exclusive_or_skip
from paycore.warehouse.schemas import (
    PARTITION,
    SCHEMA_VERSION_KEY,
    WAREHOUSE_ZONE,
    WarehouseTable,
)

_LOCAL = pa.timestamp("us", tz=WAREHOUSE_ZONE.key)
TEMP_PREFIX = ".tmp-"
UPSERT_FILE = "part-00000.parquet"
COMPRESSION = "zstd"
ROW_GROUP_ROWS = 65_536
BUFFERED_ROWS_MAX = 2 * ROW_GROUP_ROWS
COMPARE_ROWS_MAX = 1_000_000
"""A rewritten partition is compared with the one in place (and left alone when equal)
only up to this many changed rows: past it the comparison would hold both in memory."""


def file_schema(table: WarehouseTable) -> pa.Schema:
    return table.schema.with_metadata({SCHEMA_VERSION_KEY: str(table.version).encode()})


def partition_dir(root: Path, table: WarehouseTable, day: date) -> Path:
    return root / table.name / f"{PARTITION}={day.isoformat()}"


def append_name(after_seq: int, upto_seq: int) -> str:
    """An APPEND run's file in each day: named by its journal range, so a resumed run
    writes the very same names again (and no row twice)."""
    return f"part-{after_seq + 1:012d}-{upto_seq:012d}.parquet"


def to_batch(table: WarehouseTable, rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(table.schema)
    arrays = [
        pa.array(column, type=field.type)
        for column, field in zip(columns, table.schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)


def days_of(table: WarehouseTable, batch: pa.RecordBatch) -> pa.Array:
    """Each row's partition: its business date, or its timestamp's date in Asia/Shanghai."""
    column = batch.column(table.dated_by)
    if pa.types.is_timestamp(column.type):
        # local_timestamp gives the wall time of the column's own zone (UTC): the zone first.
        local = pc.local_timestamp(column.cast(_LOCAL))
        return pc.cast(local, pa.date32())
    return column


def split_by_day(
    table: WarehouseTable, batch: pa.RecordBatch
) -> Iterator[tuple[date, pa.RecordBatch]]:
    days = days_of(table, batch)
    distinct = pc.unique(days).to_pylist()
    if len(distinct) == 1:
        yield distinct[0], batch
        return
    for day in distinct:
        yield day, batch.filter(pc.equal(days, pa.scalar(day, pa.date32())))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def publish(temp: Path, final: Path) -> None:
    """Durable, then visible: the bytes reach the disk before the name does."""
    _fsync_file(temp)
    os.replace(temp, final)
    fsync_dir(final.parent)


class DaySpill:
    """A run's rows, routed to one hidden file per day as they stream in. Rows are kept
    as Arrow (compact) until a day has a full row group, or all days together have
    `BUFFERED_ROWS_MAX`: memory stays flat however many rows and days a run has."""

    def __init__(self, root: Path, table: WarehouseTable, run_id: str) -> None:
        self.root, self.table, self.run_id = root, table, run_id
        self.schema = file_schema(table)
        self._writers: dict[date, pq.ParquetWriter] = {}
        self._buffers: dict[date, list[pa.RecordBatch]] = {}
        self._buffered: dict[date, int] = {}
        self.paths: dict[date, Path] = {}
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for day, part in split_by_day(self.table, batch):
            self._buffers.setdefault(day, []).append(part)
            self._buffered[day] = self._buffered.get(day, 0) + part.num_rows
            if self._buffered[day] >= ROW_GROUP_ROWS:
                self._flush(day)
        if sum(self._buffered.values()) > BUFFERED_ROWS_MAX:
            for day in list(self._buffers):
                self._flush(day)

    def _flush(self, day: date) -> None:
        parts = self._buffers.pop(day, [])
        self._buffered.pop(day, None)
        if not parts:
            return
        writer = self._writers.get(day)
        if writer is None:
            folder = partition_dir(self.root, self.table, day)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{TEMP_PREFIX}{self.run_id}.partial"
            writer = pq.ParquetWriter(path, self.schema, compression=COMPRESSION)
            self._writers[day], self.paths[day] = writer, path
        writer.write_table(pa.Table.from_batches(parts, schema=self.table.schema))

    def close(self) -> dict[date, Path]:
        for day in list(self._buffers):
            self._flush(day)
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        return dict(self.paths)

    def discard(self) -> None:
        self._buffers.clear()
        self._buffered.clear()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        for path in self.paths.values():
            path.unlink(missing_ok=True)


def sweep_temps(root: Path, table: WarehouseTable) -> int:
    """Remove the hidden files a crashed run left (never visible to any reader)."""
    removed = 0
    for path in (root / table.name).glob(f"{PARTITION}=*/{TEMP_PREFIX}*"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def write_schema_doc(root: Path, table: WarehouseTable) -> None:
    """`<table>/_schema.json`: the current version and its columns (engines skip `_`)."""
    doc = {
        "table": table.name,
        "version": table.version,
        "mode": table.mode.value,
        "key": list(table.key),
        "partition": f"{PARTITION} (business date, Asia/Shanghai, from {table.dated_by})",
        "doc": table.doc,
        "columns": [
            {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema
        ],
    }
    folder = root / table.name
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / "_schema.json"
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if final.exists() and final.read_text(encoding="utf-8") == text:
        return
    temp = folder / f"{TEMP_PREFIX}schema.partial"
    temp.write_text(text, encoding="utf-8")
    publish(temp, final)


@dataclass(frozen=True, slots=True)
class Footer:
    files: int
    rows: int


def footer_counts(root: Path, table: WarehouseTable) -> Footer:
    """Files and rows of a table, from the Parquet footers alone."""
    files = rows = 0
    for path in (root / table.name).glob(f"{PARTITION}=*/*.parquet"):
        files += 1
        rows += pq.read_metadata(path).num_rows
    return Footer(files, rows)


@contextmanager
def table_lock(folder: Path) -> Iterator[bool]:
    """One export of a table at a time on this machine (the CLI and `serve` may overlap)."""
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_or_skip(folder / ".lock") as held:
        yield held
