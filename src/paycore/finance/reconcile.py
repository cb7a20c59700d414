"""The daily reconciliation of a derived day, three ways:

1. the day's voucher lines, summed per (currency, GL account, ledger code), against the
   ledger's own posted entries of the same seq range, summed per (currency, ledger code)
   straight from the entries (no transfer, flow or voucher grouping): `amount_mismatch`;
2. each stored voucher's lines against its stored body hash: `voucher_altered`;
3. the day's voucher ids and body hashes against what the finance system says it booked
   (`Finance.booked`, the push client's): `missing_at_receiver`, `unknown_at_receiver`,
   `body_mismatch`.

The outcome is stored on the day (`finance_days.recon_status` `ok` with 0 breaks, else
`breaks`, and the breaks as JSON; `unavailable` when the worker could not ask the finance
system: the ledger side's breaks and the error, asked again 5 minutes later). The
receiver is asked outside any transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from paycore.clock import check_date
from paycore.errors import Rejected
from paycore.finance import store, store_journal
from paycore.finance.model import AmountKey, Break, altered, amount_breaks, receiver_breaks
from paycore.finance.receiver_client import ReceiverError

if TYPE_CHECKING:
    from paycore.finance.service import Finance

log = logging.getLogger(__name__)

RECON_RETRY_S = 3600
"""A day with breaks is reconciled again this often by the worker (a receiver that caught
up clears its `missing_at_receiver`)."""
RECON_UNAVAILABLE_RETRY_S = 300
"""A day whose reconciliation could not ask the finance system is tried again this often."""
RECON_DAYS_PER_CALL_MAX = 31
UNMAPPED_GL = "unmapped"
UNAVAILABLE = "finance_receiver_unavailable"


@dataclass(frozen=True, slots=True)
class DayReconciliation:
    business_date: date
    status: str
    """pending (never reconciled) | ok | breaks | unavailable (the finance system could
    not be asked: `breaks` are the ledger side's only)"""
    breaks: tuple[dict[str, Any], ...]
    receiver_checked: bool
    """False: no finance system was asked (none configured, or it could not answer)."""
    reconciled_at: datetime | None
    error: str = ""
    """Why the finance system could not be asked (status `unavailable`)."""

    @property
    def ok(self) -> bool:
        return self.status == store.RECON_OK

    def view(self) -> dict[str, Any]:
        found = {
            "business_date": self.business_date.isoformat(),
            "status": self.status,
            "breaks": list(self.breaks),
            "receiver_checked": self.receiver_checked,
            "reconciled_at": self.reconciled_at.isoformat() if self.reconciled_at else None,
        }
        return found | {"error": self.error} if self.error else found


def reconcile_day(
    finance: Finance, business_date: date, *, hold_unavailable: bool = False
) -> DayReconciliation:
    """Reconcile and record. A finance system that cannot say what it booked is refused
    `finance_receiver_unavailable` and nothing is recorded; with `hold_unavailable` (the
    worker's) the ledger side is recorded as `unavailable`, to be tried again later."""
    check_date(business_date, field="date")
    with finance.engine.connect() as conn:
        day = _derived(conn, business_date)
        after = store.seq_before(conn, business_date)
        ledger = store_journal.ledger_sums(conn, after=after, upto=int(day.last_seq))
        lines = store.line_sums(conn, business_date)
        stored = store.load_vouchers(conn, business_date)
        hashes = store.stored_hashes(conn, business_date)
    breaks = altered(stored, hashes) + amount_breaks(lines, _by_gl(finance, ledger))
    if finance.booked is None:
        return _record(finance, business_date, breaks, receiver_checked=False)
    try:
        booked = finance.booked(business_date)
    except ReceiverError as error:
        if not hold_unavailable:
            raise Rejected(UNAVAILABLE, f"{business_date}: {error}") from None
        detail = f"{UNAVAILABLE}: {error}"
        log.warning("finance reconciliation of %s held: %s", business_date, detail)
        return _record(finance, business_date, breaks, receiver_checked=False, error=detail)
    breaks += receiver_breaks(hashes, booked)
    return _record(finance, business_date, breaks, receiver_checked=True)


def _by_gl(finance: Finance, ledger: dict[tuple[str, int], list[int]]) -> dict[AmountKey, Any]:
    """The ledger's sums keyed like the voucher lines, through the chart in force."""
    return {
        (currency, finance.chart.by_ledger_code.get(code, UNMAPPED_GL), code): (debit, credit)
        for (currency, code), (debit, credit) in ledger.items()
    }


def _record(
    finance: Finance,
    business_date: date,
    breaks: list[Break],
    *,
    receiver_checked: bool,
    error: str = "",
) -> DayReconciliation:
    now = finance.clock.now()
    status = store.RECON_BREAKS if breaks else store.RECON_OK
    status = store.RECON_UNAVAILABLE if error else status
    views = tuple(b.view() for b in breaks)
    recorded: dict[str, Any] = {"receiver_checked": receiver_checked, "breaks": list(views)}
    with finance.engine.begin() as conn:
        store.record_recon(
            conn,
            business_date,
            status=status,
            breaks=recorded | {"error": error} if error else recorded,
            now=now,
        )
    if breaks:
        log.error(
            "finance day %s does not reconcile: %d breaks",
            business_date,
            len(breaks),
            extra={"day": business_date.isoformat(), "breaks": [b["kind"] for b in views]},
        )
    return DayReconciliation(business_date, status, views, receiver_checked, now, error)


def last_reconciliation(finance: Finance, business_date: date) -> DayReconciliation:
    check_date(business_date, field="date")
    with finance.engine.connect() as conn:
        day = _derived(conn, business_date)
    recorded = day.recon_breaks if isinstance(day.recon_breaks, dict) else {}
    return DayReconciliation(
        business_date,
        day.recon_status,
        tuple(recorded.get("breaks", ())),
        bool(recorded.get("receiver_checked", False)),
        day.recon_at,
        str(recorded.get("error", "")),
    )


def reconcile_due(finance: Finance) -> list[DayReconciliation]:
    """Days never reconciled, with breaks an hour old, or whose finance system could not
    answer 5 minutes ago, none of whose vouchers waits to be pushed. A finance system that
    cannot answer is recorded on the day, never raised: the worker goes on."""
    now = finance.clock.now()
    with finance.engine.connect() as conn:
        days = store.days_to_reconcile(
            conn,
            retry_before=now - timedelta(seconds=RECON_RETRY_S),
            unavailable_before=now - timedelta(seconds=RECON_UNAVAILABLE_RETRY_S),
            limit=RECON_DAYS_PER_CALL_MAX,
        )
    return [reconcile_day(finance, day, hold_unavailable=True) for day in days]


def _derived(conn: Any, business_date: date) -> Any:
    day = store.day(conn, business_date)
    if day is None:
        raise Rejected("finance_day_not_found", f"{business_date} has not been derived")
    return day
