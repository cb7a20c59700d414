"""How far behind finance is, from the days and the push outbox: what `paycore finance
status` prints and the ops "finance push behind" detector reads (`Finance.backlog(now)`).

Behind means any of: a finished day not derived (the worker is down, or the day is refused,
e.g. a ledger code the chart does not map: it stays here until mapped, never skipped);
vouchers waiting to be pushed (the receiver is down, or marking them pushed fails: the
seed's incident); vouchers the finance system refused (a person must look); days that do
not reconcile, or whose finance system could not say what it booked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import Connection

from paycore.finance import store, store_push


@dataclass(frozen=True, slots=True)
class Underived:
    """Finished days the worker has not derived, from the oldest."""

    days: int
    oldest_day: date | None
    oldest_age_s: float
    """Seconds since the oldest one was due (its end plus the derivation grace)."""


NONE_UNDERIVED = Underived(0, None, 0.0)


@dataclass(frozen=True, slots=True)
class FinanceBacklog:
    finished_days_not_derived: int
    oldest_underived_day: date | None
    oldest_underived_age_s: float
    vouchers_pending: int
    """Derived, not yet acknowledged by the finance system (in backoff or due)."""
    oldest_pending_age_s: float
    """Since the oldest pending voucher was derived; 0 when none is pending."""
    vouchers_rejected: int
    days_with_breaks: int
    oldest_break_day: date | None
    days_receiver_unavailable: int
    """Days whose last reconciliation could not ask the finance system (retried later)."""
    oldest_unavailable_day: date | None
    derive_error: str
    """Why this process's last derivation failed ('' if it did not, or in another
    process: the worker logs it at ERROR; `paycore finance derive` shows it)."""

    def reasons(self, *, age_s: float) -> list[str]:
        """What is behind, one line each: days and vouchers waiting longer than `age_s`,
        and every refused voucher and unreconciled day (each needs a person or a retry)."""
        found: list[str] = []
        if self.finished_days_not_derived and self.oldest_underived_age_s > age_s:
            why = f": {self.derive_error}" if self.derive_error else ""
            found.append(
                f"finished days not derived: {self.finished_days_not_derived}, oldest "
                f"{self.oldest_underived_day} ({int(self.oldest_underived_age_s)} s overdue){why}"
            )
        if self.vouchers_pending and self.oldest_pending_age_s > age_s:
            found.append(
                f"vouchers not pushed: {self.vouchers_pending}, "
                f"oldest {int(self.oldest_pending_age_s)} s"
            )
        if self.vouchers_rejected:
            found.append(f"vouchers refused by the finance system: {self.vouchers_rejected}")
        if self.days_with_breaks:
            found.append(
                f"days with breaks: {self.days_with_breaks}, oldest {self.oldest_break_day}"
            )
        if self.days_receiver_unavailable:
            found.append(
                f"days the finance system did not answer for: {self.days_receiver_unavailable}, "
                f"oldest {self.oldest_unavailable_day}"
            )
        return found

    def view(self) -> dict[str, object]:
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(self).items()}


def read_backlog(
    conn: Connection, *, now: datetime, underived: Underived, derive_error: str
) -> FinanceBacklog:
    """The backlog at `now`; the underived days are the service's to count (its grace)."""
    push = store_push.backlog(conn, overdue_before=now)
    days = store.recon_days(conn, (store.RECON_BREAKS, store.RECON_UNAVAILABLE))
    breaks = days.get(store.RECON_BREAKS, (0, None))
    unavailable = days.get(store.RECON_UNAVAILABLE, (0, None))
    oldest_at = push.oldest_pending_at
    return FinanceBacklog(
        finished_days_not_derived=underived.days,
        oldest_underived_day=underived.oldest_day,
        oldest_underived_age_s=underived.oldest_age_s,
        vouchers_pending=push.pending,
        oldest_pending_age_s=(now - oldest_at).total_seconds() if oldest_at else 0.0,
        vouchers_rejected=push.rejected,
        days_with_breaks=breaks[0],
        oldest_break_day=breaks[1],
        days_receiver_unavailable=unavailable[0],
        oldest_unavailable_day=unavailable[1],
        derive_error=derive_error,
    )
