"""UPSERT partitions: a day's file rewritten whole with its changed rows in, swapped in by
rename. The merge streams the file in place batch by batch; only the changed rows' keys
are held in memory (a run's changes, not the day)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from paycore.warehouse.files import (
    COMPARE_ROWS_MAX,
    COMPRESSION,
    TEMP_PREFIX,
    file_schema,
    fsync_dir,
    publish,
)
from paycore.warehouse.schemas import WarehouseTable

_KEY_SEPARATOR = "\x1f"
READ_BATCH_ROWS = 65_536


def key_array(table: WarehouseTable, data: pa.Table | pa.RecordBatch) -> pa.Array:
    """One value per row standing for its whole key (composite keys joined as text)."""
    if len(table.key) == 1:
        column = data.column(table.key[0])
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    parts = [pc.cast(data.column(name), pa.string()) for name in table.key]
    joined = pc.binary_join_element_wise(*parts, _KEY_SEPARATOR)
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _rows_with_keys(table: WarehouseTable, path: Path, keys: pa.Array) -> pa.Table:
    found = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH_ROWS):
        hit = batch.filter(pc.is_in(key_array(table, batch), value_set=keys))
        if hit.num_rows:
            found.append(hit)
    return (
        pa.Table.from_batches(found, schema=table.schema) if found else table.schema.empty_table()
    )


def _same_rows(table: WarehouseTable, left: pa.Table, right: pa.Table) -> bool:
    if left.num_rows != right.num_rows:
        return False
    order = [(name, "ascending") for name in table.key]
    plain = table.schema
    return bool(left.cast(plain).sort_by(order).equals(right.cast(plain).sort_by(order)))


def merge_day(table: WarehouseTable, spill: Path, final: Path, run_id: str) -> bool:
    """The day's file with the spilled rows in place of those with the same key; False
    (and nothing written) when every spilled row is already there as it is."""
    if not final.exists():
        publish(spill, final)
        return True
    if pq.read_metadata(spill).num_rows <= COMPARE_ROWS_MAX:
        changed = pq.read_table(spill)
        if _same_rows(table, _rows_with_keys(table, final, key_array(table, changed)), changed):
            spill.unlink()
            return False
        del changed
    keys = key_array(table, pq.read_table(spill, columns=list(table.key)))
    temp = final.parent / f"{TEMP_PREFIX}{run_id}-merge.partial"
    with pq.ParquetWriter(temp, file_schema(table), compression=COMPRESSION) as writer:
        for batch in pq.ParquetFile(final).iter_batches(batch_size=READ_BATCH_ROWS):
            kept = batch.filter(pc.invert(pc.is_in(key_array(table, batch), value_set=keys)))
            if kept.num_rows:
                writer.write_batch(kept)
        for batch in pq.ParquetFile(spill).iter_batches(batch_size=READ_BATCH_ROWS):
            writer.write_batch(batch)
    publish(temp, final)
    spill.unlink()
    return True


def replace_day(table: WarehouseTable, spill: Path, final: Path) -> bool:
    """A day read whole: its file replaced by the spill, unless equal to it."""
    comparable = final.exists() and pq.read_metadata(final).num_rows <= COMPARE_ROWS_MAX
    if comparable and _same_rows(table, pq.read_table(final), pq.read_table(spill)):
        spill.unlink()
        return False
    publish(spill, final)
    return True


def drop_day(final: Path) -> bool:
    """A day read whole that has no row left: its file goes."""
    if not final.exists():
        return False
    final.unlink()
    fsync_dir(final.parent)
    return True
