"""Large bill exports as background jobs: queued by a request, run by a worker, fetched
through a download link that expires.

Claim: a worker leases one job at a time with a compare-and-set (export_store.claim);
while it writes it renews the lease with its progress, and it can finish the job only
while it still holds the lease. Two workers never both finish a job: one that stalled past
its lease finds the lease gone at its next renewal, stops and removes its file.

File: kept under `<data dir>/exports/`, encrypted when the jobs have a cipher (the
runtime's): a fresh data key per file, streamed back decrypted with flat memory.

Link: `/v1/bills/exports/download/{job}.{expires}.{signature}`, an HMAC over the job and
the instant the link expires, with a key derived from the field key (nothing secret is
stored; any process of the deployment can check it). A link past its instant is 410.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from paycore.bills import export_store as store
from paycore.bills.exports import (
    EXPORT_FILE_KIND,
    MEDIA_TYPES,
    Format,
    Progress,
    write_file,
    write_sealed_file,
)
from paycore.bills.queries import COLUMNS, BillQueries, Row, What, check_filters, filters_of
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.ids import new_id
from paycore.platform.db import WRITER, one_read
from paycore.security.files import SEALED_SUFFIX, FieldSealer, iter_clear
from paycore.text import is_ascii_digits

if TYPE_CHECKING:
    from paycore.runtime import Runtime

log = logging.getLogger(__name__)

EXPORT_LEASE_S = 120.0
"""A worker renews its lease at least this often (each PROGRESS_ROWS rows); a job whose
lease ran out is taken over by another worker (its first worker crashed)."""
EXPORT_ATTEMPTS_MAX = 3
EXPORT_LINK_TTL_S = 15 * 60
"""A download link works this long after the job's status was read."""
EXPORT_RETENTION_S = 7 * 24 * 3600
"""An export's file is kept this long after it was written, then removed."""
EXPORT_ACTIVE_MAX = 4
"""Queued or running exports per merchant: more is `too_many_exports` (429)."""
EXPORT_POLL_S = 2.0
PROGRESS_ROWS = 5000
SWEEP_BATCH_MAX = 100
REQUEST_KEY_LENGTH_MAX = 128


class LeaseLost(Exception):
    """Another worker took the job over: stop writing."""


@dataclass(frozen=True, slots=True)
class Download:
    path: Path
    file_name: str
    media_type: str


class ExportJobs:
    def __init__(
        self,
        *,
        engine: Engine,
        queries: BillQueries,
        clock: Clock,
        data_dir: Path,
        link_key: bytes,
        cipher: FieldSealer | None = None,
    ) -> None:
        self.engine = engine
        self.queries = queries
        self.clock = clock
        self.directory = data_dir / "exports"
        self._link_key = link_key
        self._cipher = cipher
        """With a cipher, files are kept encrypted (`<job>.<lease>.<format>.enc`)."""

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> ExportJobs:
        return cls(
            engine=runtime.engine,
            queries=BillQueries(runtime.bills),
            clock=runtime.clock,
            data_dir=Path(runtime.settings.data_dir),
            link_key=runtime.cipher.derive_key("paycore/bills-export-link"),
            cipher=runtime.cipher,
        )

    # -- requests ------------------------------------------------------------------------

    def submit(
        self,
        merchant_id: str,
        *,
        what: str,
        fmt: str,
        filters: Mapping[str, str | None],
        request_key: str | None,
    ) -> dict[str, Any]:
        """Queue an export (the same `request_key` again: the same job; with another
        request: `idempotency_key_reused`)."""
        kind, form = _what(what), _format(fmt)
        given = {k: v for k, v in filters.items() if v}
        check_filters(kind, filters_of(given))
        if request_key is not None and not 0 < len(request_key) <= REQUEST_KEY_LENGTH_MAX:
            raise Rejected("idempotency_key_too_long", "an Idempotency-Key is 1-128 characters")
        job_id = new_id("exp")
        key = request_key or job_id
        row = {
            "id": job_id,
            "merchant_id": merchant_id,
            "request_key": key,
            "request_hash": _request_hash(kind, form, given),
            "what": kind.value,
            "format": form.value,
            "filters": given,
            "status": "queued",
            "rows_total": None,
            "rows_done": 0,
            "attempts": 0,
            "error": "",
            "created_at": self.clock.now(),
        }
        try:
            found = self._write(_insert_once, row)
        except IntegrityError:  # the same key sent twice at once: the other one won
            with one_read(self.engine) as conn:
                found = store.job_by_request(conn, merchant_id, key)
        if found is None or found.request_hash != row["request_hash"]:
            raise Rejected("idempotency_key_reused", "this key was used for another export")
        return self._view(found)

    def get(self, merchant_id: str | None, job_id: str) -> dict[str, Any]:
        """The job's status and progress; once it succeeded, a fresh download link."""
        with one_read(self.engine) as conn:
            row = store.get_job(conn, job_id)
        if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
            raise Rejected("export_not_found", f"no export {job_id}")
        return self._view(row)

    def _view(self, row: Any) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": row.id,
            "merchant_id": row.merchant_id,
            "what": row.what,
            "format": row.format,
            "filters": dict(row.filters),
            "status": row.status,
            "rows_total": row.rows_total,
            "rows_done": row.rows_done,
            "created_at": _instant(row.created_at),
            "finished_at": _instant(row.finished_at),
            "error": row.error or None,
            "download_url": None,
            "download_expires_at": None,
        }
        if row.status == "succeeded" and row.finished_at is not None:
            kept_until = row.finished_at + timedelta(seconds=EXPORT_RETENTION_S)
            expires = min(self.clock.now() + timedelta(seconds=EXPORT_LINK_TTL_S), kept_until)
            view["download_url"] = f"/v1/bills/exports/download/{self.token(row.id, expires)}"
            view["download_expires_at"] = _instant(expires)
        return view

    # -- links ---------------------------------------------------------------------------

    def token(self, job_id: str, expires: datetime) -> str:
        stamp = str(int(expires.timestamp()))
        return f"{job_id}.{stamp}.{self._signature(job_id, stamp)}"

    def _signature(self, job_id: str, stamp: str) -> str:
        mac = hmac.new(self._link_key, f"{job_id}.{stamp}".encode(), hashlib.sha256)
        return mac.hexdigest()

    def download(self, token: str) -> Download:
        """The file a link names. A link paycore did not sign is `export_not_found` (the
        same as a missing job: a guess learns nothing); a signed one past its instant is
        `export_link_expired`; a job whose file was removed is `export_expired`."""
        parts = token.split(".")
        if len(parts) != 3 or not is_ascii_digits(parts[1]) or len(parts[1]) > 12:
            raise Rejected("export_not_found", "no such download")
        job_id, stamp, signature = parts
        if not hmac.compare_digest(signature, self._signature(job_id, stamp)):
            raise Rejected("export_not_found", "no such download")
        if self.clock.now().timestamp() >= int(stamp):
            raise Rejected("export_link_expired", "the link expired; read the export again")
        with one_read(self.engine) as conn:
            row = store.get_job(conn, job_id)
        if row is None or row.status != "succeeded" or row.file_name is None:
            raise Rejected("export_expired", "the export's file is no longer kept")
        path = self.directory / row.file_name
        if not path.is_file():
            raise Rejected("export_expired", "the export's file is no longer kept")
        form = Format(row.format)
        return Download(path, f"{row.id}-{row.what}.{form.value}", MEDIA_TYPES[form])

    # -- the worker ----------------------------------------------------------------------

    def run_next(self) -> str | None:
        """Claim the oldest claimable job and run it; its id, or None if none was due."""
        lease_id = secrets.token_hex(8)
        now = self.clock.now()
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.fail_exhausted(conn, now=now, attempts_max=EXPORT_ATTEMPTS_MAX)
            row = store.claim(
                conn,
                now=now,
                lease_id=lease_id,
                leased_until=now + timedelta(seconds=EXPORT_LEASE_S),
                attempts_max=EXPORT_ATTEMPTS_MAX,
            )
        if row is None:
            return None
        self._run(row, lease_id)
        return str(row.id)

    def _run(self, row: Any, lease_id: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        form, what = Format(row.format), What(row.what)
        part = self.directory / f"{row.id}.{lease_id}.part"
        final = self.directory / f"{row.id}.{lease_id}.{form.value}"
        if self._cipher is not None:
            final = final.with_name(final.name + SEALED_SUFFIX)
        try:
            filters = filters_of(row.filters)
            total = self.queries.count(what, row.merchant_id, filters, cap=None)
            self._write(store.set_total, row.id, lease_id, total)
            rows = self.queries.rows(what, row.merchant_id, filters)
            done, clear_bytes = self._write_file(
                rows, what, form, part, lambda n: self._renew(row.id, lease_id, n)
            )
            part.replace(final)
            finished = self._write(
                store.finish,
                row.id,
                lease_id,
                status="succeeded",
                rows_done=done,
                file_name=final.name,
                file_bytes=clear_bytes,
                finished_at=self.clock.now(),
            )
            if not finished:
                final.unlink(missing_ok=True)
        except LeaseLost:
            log.warning("export lease lost", extra={"job_id": row.id})
            part.unlink(missing_ok=True)
        except Rejected as refused:
            part.unlink(missing_ok=True)
            error = f"{refused.code}: {refused.detail}"[:256]
            self._write(
                store.finish,
                row.id,
                lease_id,
                status="failed",
                error=error,
                finished_at=self.clock.now(),
            )
        except Exception:
            log.exception("export failed", extra={"job_id": row.id})
            part.unlink(missing_ok=True)
            again = row.attempts < EXPORT_ATTEMPTS_MAX
            status = "queued" if again else "failed"
            self._write(store.finish, row.id, lease_id, status=status, error="internal_error")

    def _write_file(
        self, rows: Iterator[Row], what: What, form: Format, part: Path, progress: Progress
    ) -> tuple[int, int]:
        """(rows written, bytes of the clear file): sealed with a cipher, else in clear."""
        if self._cipher is not None:
            return write_sealed_file(
                rows, COLUMNS[what], part, form, self._cipher, sheet=what.value, progress=progress
            )
        done = write_file(rows, COLUMNS[what], part, form, sheet=what.value, progress=progress)
        return done, part.stat().st_size

    def chunks(self, download: Download) -> Iterator[bytes]:
        """The clear content of a download, streamed: decrypted chunk by chunk (flat
        memory) when kept sealed; a file kept in clear before encryption was on, as is."""
        if self._cipher is None:
            return chunks_of(download.path)
        return iter_clear(download.path, self._cipher, kind=EXPORT_FILE_KIND)

    def _renew(self, job_id: str, lease_id: str, rows_done: int) -> None:
        until = self.clock.now() + timedelta(seconds=EXPORT_LEASE_S)
        if not self._write(store.renew, job_id, lease_id, leased_until=until, rows_done=rows_done):
            raise LeaseLost(job_id)

    def _write(self, step: Any, *args: Any, **kwargs: Any) -> Any:
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            return step(conn, *args, **kwargs)

    def sweep(self) -> int:
        """Remove the files of exports older than EXPORT_RETENTION_S; returns how many."""
        bound = self.clock.now() - timedelta(seconds=EXPORT_RETENTION_S)
        with one_read(self.engine) as conn:
            old = store.expired_files(conn, finished_before=bound, limit=SWEEP_BATCH_MAX)
        for job in old:
            self._write(store.mark_expired, job.id)
            if job.file_name:
                (self.directory / job.file_name).unlink(missing_ok=True)
        return len(old)

    def run_worker(self, stop: threading.Event, poll_s: float = EXPORT_POLL_S) -> None:
        """Run queued exports one after another until `stop`; sweep old files between."""
        while not stop.is_set():
            try:
                ran = self.run_next()
                if ran is None:
                    self.sweep()
            except Exception:
                log.exception("export worker step failed")
                ran = None
            if ran is None and stop.wait(poll_s):
                return


def _insert_once(conn: Any, row: dict[str, Any]) -> Any:
    """The job under this request key: the one there, or this new one."""
    found = store.job_by_request(conn, row["merchant_id"], row["request_key"])
    if found is not None:
        return found
    if store.active_jobs(conn, row["merchant_id"]) >= EXPORT_ACTIVE_MAX:
        raise Rejected("too_many_exports", "wait for a running export of yours to end")
    store.insert_job(conn, row)
    return store.get_job(conn, row["id"])


def run_export_worker(jobs: ExportJobs, *, poll_s: float, stop: threading.Event) -> None:
    jobs.run_worker(stop, poll_s)


def _what(value: str) -> What:
    try:
        return What(value)
    except ValueError:
        raise Rejected("invalid_value", "what is orders, transfers or lines") from None


def _format(value: str) -> Format:
    try:
        return Format(value)
    except ValueError:
        raise Rejected("invalid_value", "format is csv or xlsx") from None


def _request_hash(what: What, fmt: Format, filters: Mapping[str, str]) -> str:
    canonical = "|".join([what.value, fmt.value, *(f"{k}={filters[k]}" for k in sorted(filters))])
    return hashlib.sha256(canonical.encode()).hexdigest()


def _instant(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def chunks_of(path: Path, size: int = 64 * 1024) -> Iterator[bytes]:
    """A file as chunks, for a streamed download."""
    with path.open("rb") as source:
        while chunk := source.read(size):
            yield chunk
