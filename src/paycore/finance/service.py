"""Finance use cases: derive each finished business day's vouchers from the journal (once;
a replay compares and writes nothing), read them, and reconcile each day (reconcile.py).

Days are the bills' days (China Standard Time, `bills.model.day_period`) and are derived
in order, each `DERIVE_GRACE_S` after it ends, like the bills' day close. A day's entries
are a seq range of the journal: from the previous day's end to just before the first
entry stamped in a later day (`store_journal.day_end_seq`), so the ledger's day and the vouchers'
day are one and the same range, read by primary key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from paycore.bills.daily import DAY_CLOSE_GRACE_S
from paycore.bills.model import bill_day_of, day_period
from paycore.clock import Clock, check_date
from paycore.errors import Rejected
from paycore.finance import reconcile, store, store_journal
from paycore.finance.backlog import NONE_UNDERIVED, FinanceBacklog, Underived, read_backlog
from paycore.finance.chart import DEFAULT_CHART, FinanceChart, load_chart
from paycore.finance.model import Voucher, build_vouchers, replay_conflicts, voucher_body

if TYPE_CHECKING:
    from paycore.runtime import Runtime

log = logging.getLogger(__name__)

DERIVE_GRACE_S = DAY_CLOSE_GRACE_S
"""A day is derived this long after it ends (the bills' day close grace): a transfer
stamped 23:59:59.9 and committed a moment later still lands in its own day."""
DERIVE_DAYS_PER_CALL_MAX = 62
"""Days one `derive_due` call derives; the worker's next round continues."""
WORKER_INTERVAL_S = 30.0

Booked = Callable[[date], Mapping[str, str]]
"""What the finance system booked for a business day: voucher id -> body hash."""


@dataclass(frozen=True, slots=True)
class DeriveResult:
    business_date: date
    voucher_ids: tuple[str, ...]
    written: int
    """Vouchers written now: 0 for a replay of a derived day."""

    def view(self) -> dict[str, object]:
        return {
            "business_date": self.business_date.isoformat(),
            "vouchers": list(self.voucher_ids),
            "written": self.written,
        }


@dataclass(frozen=True, slots=True)
class VoucherRecord:
    """A stored voucher with its push state (the push relay's outbox columns)."""

    voucher: Voucher
    body_hash: str
    created_at: datetime
    push_status: str
    push_attempts: int
    pushed_at: datetime | None
    receiver_ref: str | None
    last_error: str

    def view(self, *, lines: bool) -> dict[str, Any]:
        body = voucher_body(self.voucher)
        if not lines:
            body.pop("lines")
        return {
            **body,
            "body_hash": self.body_hash,
            "created_at": self.created_at.isoformat(),
            "push_status": self.push_status,
            "push_attempts": self.push_attempts,
            "pushed_at": self.pushed_at.isoformat() if self.pushed_at else None,
            "receiver_ref": self.receiver_ref,
            "last_error": self.last_error,
        }


class Finance:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        chart: FinanceChart = DEFAULT_CHART,
        booked: Booked | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.chart = chart
        self.booked = booked
        """None: no finance system to ask; the reconciliation checks the ledger only."""
        self.derive_error = ""
        """Why this object's last derivation failed ('' once one succeeds): for `backlog`."""

    @classmethod
    def for_runtime(cls, runtime: Runtime, *, booked: Booked | None = None) -> Finance:
        # Settings.finance_chart_file is the integrator's to add; until then, the default.
        path = getattr(runtime.settings, "finance_chart_file", "")
        return cls(runtime.engine, runtime.clock, chart=load_chart(path), booked=booked)

    # -- derivation --------------------------------------------------------------------

    def derive_due(self) -> list[DeriveResult]:
        """Derive every finished day not derived yet, in order (what the worker does)."""
        now = self.clock.now()
        results: list[DeriveResult] = []
        for _ in range(DERIVE_DAYS_PER_CALL_MAX):
            day = self._next_day()
            if day is None or not self._is_over(day, now):
                break
            results.append(self._derive(day))
        return results

    def derive_day(self, business_date: date) -> DeriveResult:
        """Derive a finished day (and the days before it not derived yet); a derived day is
        derived again and compared: the same vouchers, nothing written, or refused
        `finance_voucher_conflict` if the journal now gives another body."""
        check_date(business_date, field="date")
        if not self._is_over(business_date, self.clock.now()):
            raise Rejected(
                "finance_day_not_over",
                f"{business_date} is derived {DERIVE_GRACE_S} s after it ends (China time)",
            )
        with self.engine.connect() as conn:
            found = store.day(conn, business_date)
            last = store.last_day(conn)
        if found is not None:
            return self._replay(business_date)
        if last is not None and business_date <= last[0]:
            raise Rejected(
                "finance_day_before_first",
                f"days are derived in order from the first; {business_date} is before it",
            )
        day = self._next_day() or business_date
        result = self._derive(min(day, business_date))
        while result.business_date < business_date:
            result = self._derive(result.business_date + timedelta(days=1))
        return result

    def _next_day(self) -> date | None:
        """The day after the last derived one; the journal's first day if none is."""
        with self.engine.connect() as conn:
            last = store.last_day(conn)
            first_at = store_journal.first_entry_at(conn) if last is None else None
        if last is not None:
            return last[0] + timedelta(days=1)
        return bill_day_of(first_at) if first_at is not None else None

    @staticmethod
    def _is_over(day: date, now: datetime) -> bool:
        return now >= day_period(day).end + timedelta(seconds=DERIVE_GRACE_S)

    def _derive(self, day: date) -> DeriveResult:
        try:
            with self.engine.begin() as conn:
                last = store.last_day(conn)
                after = last[1] if last else 0
                upto = store_journal.day_end_seq(conn, after=after, end=day_period(day).end)
                movements = store_journal.movements(conn, after=after, upto=upto)
                vouchers = build_vouchers(day, movements, self.chart.gl_of)
                store.insert_day(
                    conn, business_date=day, derived=vouchers, last_seq=upto, now=self.clock.now()
                )
        except IntegrityError:
            log.info("finance day %s was derived by another worker", day)
            return self._replay(day)
        except Exception as error:  # kept for `backlog` (the ops detector), then raised
            self.derive_error = f"{day}: {error}"
            raise
        self.derive_error = ""
        log.info("finance day derived", extra={"day": day.isoformat(), "vouchers": len(vouchers)})
        return DeriveResult(day, tuple(v.id for v in vouchers), len(vouchers))

    def _replay(self, day: date) -> DeriveResult:
        with self.engine.connect() as conn:
            found = store.day(conn, day)
            after = store.seq_before(conn, day)
            movements = store_journal.movements(conn, after=after, upto=int(found.last_seq))
            stored = store.stored_hashes(conn, day)
        vouchers = build_vouchers(day, movements, self.chart.gl_of)
        conflicts = replay_conflicts(vouchers, stored)
        if conflicts:
            log.error("finance day %s derives differently now: %s", day, conflicts)
            raise Rejected(
                "finance_voucher_conflict",
                f"{day}: the journal now gives other vouchers than those derived: {conflicts}",
            )
        return DeriveResult(day, tuple(v.id for v in vouchers), 0)

    # -- reads -------------------------------------------------------------------------

    def vouchers(self, business_date: date) -> list[VoucherRecord]:
        check_date(business_date, field="date")
        with self.engine.connect() as conn:
            rows = store.voucher_rows(conn, business_date)
            lines = store.lines_of(conn, [r.id for r in rows])
        return [_record(r, lines[r.id]) for r in rows]

    def voucher(self, voucher_id: str) -> VoucherRecord:
        with self.engine.connect() as conn:
            row = store.voucher_row(conn, voucher_id)
            lines = store.lines_of(conn, [voucher_id])[voucher_id] if row else []
        if row is None:
            raise Rejected("finance_voucher_not_found", f"no voucher {voucher_id}")
        return _record(row, lines)

    # -- how far behind (backlog.py) ---------------------------------------------------

    def backlog(self, now: datetime | None = None) -> FinanceBacklog:
        """Finished days not derived, vouchers not pushed or refused, days that do not
        reconcile: what the ops "finance push behind" detector and `paycore finance
        status` read."""
        now = now or self.clock.now()
        underived = self._underived(now)
        with self.engine.connect() as conn:
            return read_backlog(conn, now=now, underived=underived, derive_error=self.derive_error)

    def _underived(self, now: datetime) -> Underived:
        day = self._next_day()
        if day is None or not self._is_over(day, now):
            return NONE_UNDERIVED
        last_over = bill_day_of(now - timedelta(seconds=DERIVE_GRACE_S)) - timedelta(days=1)
        due_at = day_period(day).end + timedelta(seconds=DERIVE_GRACE_S)
        return Underived((last_over - day).days + 1, day, (now - due_at).total_seconds())

    # -- reconciliation (reconcile.py) -------------------------------------------------

    def reconcile_day(self, business_date: date) -> reconcile.DayReconciliation:
        """Reconcile a derived day now and record the outcome."""
        return reconcile.reconcile_day(self, business_date)

    def reconciliation(self, business_date: date) -> reconcile.DayReconciliation:
        """The day's last recorded reconciliation (status `pending` before the first)."""
        return reconcile.last_reconciliation(self, business_date)

    def reconcile_due(self) -> list[reconcile.DayReconciliation]:
        """Reconcile the days none of whose vouchers waits to be pushed (what the worker
        does); a finance system that cannot answer is recorded on the day, not raised."""
        return reconcile.reconcile_due(self)

    def run_worker(self, stop: threading.Event, interval_s: float = WORKER_INTERVAL_S) -> None:
        """Derive finished days, then reconcile pushed ones, until `stop` is set."""
        while not stop.wait(interval_s):
            for step in (self.derive_due, self.reconcile_due):
                try:
                    step()
                except Exception:  # a worker survives a bad round; the next one retries
                    log.exception("finance %s failed", step.__name__)


def _record(row: Any, lines: list[Any]) -> VoucherRecord:
    return VoucherRecord(
        voucher=store.as_voucher(row, lines),
        body_hash=row.body_hash,
        created_at=row.created_at,
        push_status=row.push_status,
        push_attempts=row.push_attempts,
        pushed_at=row.pushed_at,
        receiver_ref=row.receiver_ref,
        last_error=row.last_error,
    )
