"""The warehouse export: each table's changes since its watermark, into Hive-partitioned
Parquet (schemas.py), incrementally and idempotently.

One table's run: plan it (its range, recorded as `running` before any file is written),
stream its rows into hidden files per day, publish them by rename (APPEND: new part files
named by the journal range; UPSERT: each day's file rewritten whole), then commit the
watermark with the run. A crash anywhere leaves either hidden files (swept) or published
files whose run is still `running`: the next run resumes that same range and writes the
same files again, so every row is in the warehouse exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from paycore import ids
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.warehouse import files, merge, store
from paycore.warehouse.schemas import BY_NAME, TABLES, WAREHOUSE_ZONE, Mode, WarehouseTable
from paycore.warehouse.sources import SOURCES, Source, read_pages
from paycore.warehouse.store_sources import Window
from paycore.warehouse.tokens import AccountToken, line_account_tokens

if TYPE_CHECKING:
    from paycore.runtime import Runtime

log = logging.getLogger(__name__)

BATCH_ROWS = 20_000
"""Rows fetched from the database at a time: as Python objects they weigh ~1 KB each (a
run fetching 100,000 peaked at 370 MB RSS, at 20,000 about 230 MB, for the same CPU per
row); the files' row groups are larger (files.ROW_GROUP_ROWS), buffered as compact Arrow."""
SETTLE_S = 60.0
"""Rows changed this recently wait for the next run: a writer stamps updated_at before it
commits, so a later commit can carry an earlier stamp (the grace the bills' day close
also allows). A window also stops before the oldest transaction still writing began
(store.oldest_write_started). Lagging instead of re-reading an overlap keeps a re-run
with nothing new from rewriting anything; a row read twice would still be harmless
(UPSERT keeps one per key)."""
JOURNAL_WAIT_S = 30.0
"""How long a run waits for the transactions that may still add journal entries below
the end it read (store.settled_journal_end)."""

Progress = Callable[[str, int], None]
Fault = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TableResult:
    table: str
    status: str  # exported | resumed | nothing | busy
    rows: int
    files: int


@dataclass(frozen=True, slots=True)
class TableStatus:
    table: str
    version: int
    mode: str
    position: str
    files: int
    rows: int
    last_run: store.Run | None


def _no_progress(_table: str, _rows: int) -> None:
    return None


def _no_fault(_point: str) -> None:
    return None


def day_end(day: date) -> datetime:
    """The instant a business day (Asia/Shanghai) ends."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=WAREHOUSE_ZONE)


class WarehouseExport:
    def __init__(
        self,
        engine: Engine,
        root: Path,
        clock: Clock,
        *,
        batch_rows: int = BATCH_ROWS,
        settle_s: float = SETTLE_S,
        journal_wait_s: float = JOURNAL_WAIT_S,
        account_token: AccountToken | None = None,
    ) -> None:
        self.engine, self.root, self.clock = engine, Path(root), clock
        self.batch_rows, self.settle_s, self.journal_wait_s = batch_rows, settle_s, journal_wait_s
        self.account_token = account_token
        """Tokens of statement lines' sealed accounts; without it they export empty."""

    @classmethod
    def for_runtime(cls, rt: Runtime) -> WarehouseExport:
        """On the runtime's database, root and clock, with its keys for the tokens it makes."""
        tokens = line_account_tokens(rt.cipher, rt.blind_index.indexer)
        return cls(rt.engine, rt.settings.warehouse_path(), rt.clock, account_token=tokens)

    def export(
        self,
        *,
        until: date | None = None,
        tables: Sequence[str] = (),
        progress: Progress = _no_progress,
        fault: Fault = _no_fault,
    ) -> list[TableResult]:
        """Export every table (or those named) up to now, or up to the end of `until`.
        `progress(table, rows so far)` after each page; `fault(point)` is called at the
        crash points a test kills the run at (`after_rename`, `before_watermark`)."""
        chosen = [_table(name) for name in tables] if tables else list(TABLES)
        end = day_end(until) if until is not None else None
        return [self._export_table(t, end, progress, fault) for t in chosen]

    def export_scheduled(self) -> list[TableResult]:
        """For `serve`'s schedule: every table, one failing table not stopping the others."""
        results = []
        for table in TABLES:
            try:
                results.append(self._export_table(table, None, _no_progress, _no_fault))
            except Exception:
                log.exception("warehouse export of %s failed", table.name)
        return results

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """`serve`'s worker: every `interval_s` (PAYCORE_WAREHOUSE_EXPORT_INTERVAL_S), every
        table's changes, until `stop` is set."""
        while not stop.wait(interval_s):
            self.export_scheduled()

    def status(self) -> list[TableStatus]:
        found = []
        with self.engine.connect() as conn:
            for table in TABLES:
                mark = store.watermark(conn, table.name)
                last = store.last_run(conn, table.name)
                footer = files.footer_counts(self.root, table)
                found.append(
                    TableStatus(
                        table.name,
                        table.version,
                        table.mode.value,
                        _position(mark),
                        footer.files,
                        footer.rows,
                        last,
                    )
                )
        return found

    # -- one table ------------------------------------------------------------------------

    def _export_table(
        self, table: WarehouseTable, end: datetime | None, progress: Progress, fault: Fault
    ) -> TableResult:
        with files.table_lock(self.root / table.name) as held:
            if not held:
                return TableResult(table.name, "busy", 0, 0)
            files.write_schema_doc(self.root, table)
            files.sweep_temps(self.root, table)
            run, resumed = self._plan(table, end)
            if run is None:
                return TableResult(table.name, "nothing", 0, 0)
            rows, written = self._write(table, run, progress, fault)
            fault("before_watermark")
            with self.engine.begin() as conn:
                store.save_watermark(
                    conn,
                    table.name,
                    position_seq=run.to_seq,
                    position_at=run.to_at,
                    schema_version=table.version,
                    now=self.clock.now(),
                )
                store.finish_run(conn, run.id, rows=rows, files=written, now=self.clock.now())
        log.info("warehouse %s: %d rows, %d files", table.name, rows, written)
        status = "resumed" if resumed else ("exported" if rows else "nothing")
        return TableResult(table.name, status, rows, written)

    def _plan(self, table: WarehouseTable, end: datetime | None) -> tuple[store.Run | None, bool]:
        """The range of this run (recorded before any file is written), or the unfinished
        run's, resumed as it was."""
        source = SOURCES[table.name]
        with self.engine.connect() as conn:
            unfinished = store.open_run(conn, table.name)
            if unfinished is not None:
                return unfinished, True
            mark = store.watermark(conn, table.name)
            if source.by_seq:
                run = self._seq_run(conn, table, mark, end)
            else:
                run = self._time_run(conn, table, mark, end)
        if run is None:
            return None, False
        with self.engine.begin() as conn:
            store.insert_run(conn, run)
        return run, False

    def _seq_run(
        self,
        conn: Connection,
        table: WarehouseTable,
        mark: store.Watermark | None,
        end: datetime | None,
    ) -> store.Run | None:
        after = mark.position_seq if mark is not None and mark.position_seq is not None else 0
        upto = store.settled_journal_end(conn, wait_s=self.journal_wait_s)
        if upto is None:
            log.warning("warehouse %s: journal transactions still open, next time", table.name)
            return None
        if end is not None:
            later = store.first_seq_at_or_after(conn, after=after, upto=upto, at=end)
            upto = upto if later is None else later - 1
        if upto <= after:
            return None
        return self._new_run(table, from_seq=after, to_seq=upto)

    def _time_run(
        self,
        conn: Connection,
        table: WarehouseTable,
        mark: store.Watermark | None,
        end: datetime | None,
    ) -> store.Run | None:
        start = mark.position_at if mark is not None else None
        to = self.clock.now()
        oldest = store.oldest_write_started(conn)
        if oldest is not None:  # a long transaction's rows may carry stamps from its start
            to = min(to, oldest)
        to -= timedelta(seconds=self.settle_s)
        if end is not None:
            to = min(to, end)
        if start is not None and to <= start:
            return None
        return self._new_run(table, from_at=start, to_at=to)

    def _new_run(
        self,
        table: WarehouseTable,
        *,
        from_seq: int | None = None,
        to_seq: int | None = None,
        from_at: datetime | None = None,
        to_at: datetime | None = None,
    ) -> store.Run:
        now = self.clock.now()
        return store.Run(
            ids.new_id("whr"), table.name, store.RUNNING, from_seq, to_seq, from_at, to_at,
            0, 0, now, None,
        )  # fmt: skip

    def _write(
        self, table: WarehouseTable, run: store.Run, progress: Progress, fault: Fault
    ) -> tuple[int, int]:
        window = Window(run.from_seq or 0, run.to_seq or 0, run.from_at, run.to_at)
        source = SOURCES[table.name]
        spill = files.DaySpill(self.root, table, run.id)
        try:
            with self.engine.connect() as conn:
                days, pages = read_pages(source, conn, window, self.batch_rows, self.account_token)
                for page in pages:
                    spill.add(files.to_batch(table, page))
                    progress(table.name, spill.rows)
            spilled = spill.close()
        except BaseException:
            spill.discard()
            raise
        return spill.rows, self._publish(table, run, source, spilled, days, fault)

    def _publish(
        self,
        table: WarehouseTable,
        run: store.Run,
        source: Source,
        spilled: dict[date, Path],
        days: Sequence[date],
        fault: Fault,
    ) -> int:
        written = 0
        for day, temp in sorted(spilled.items()):
            folder = files.partition_dir(self.root, table, day)
            if table.mode is Mode.APPEND:
                files.publish(temp, folder / files.append_name(run.from_seq or 0, run.to_seq or 0))
                written += 1
            elif source.whole_days:
                written += merge.replace_day(table, temp, folder / files.UPSERT_FILE)
            else:
                written += merge.merge_day(table, temp, folder / files.UPSERT_FILE, run.id)
            fault("after_rename")
        for day in set(days) - set(spilled):
            written += merge.drop_day(
                files.partition_dir(self.root, table, day) / files.UPSERT_FILE
            )
        return written


def _table(name: str) -> WarehouseTable:
    found = BY_NAME.get(name)
    if found is None:
        raise Rejected("warehouse_table_unknown", f"no table {name!r}: one of {', '.join(BY_NAME)}")
    return found


def _position(mark: store.Watermark | None) -> str:
    if mark is None:
        return "-"
    if mark.position_seq is not None:
        return f"seq {mark.position_seq}"
    return mark.position_at.isoformat(timespec="seconds") if mark.position_at else "-"
