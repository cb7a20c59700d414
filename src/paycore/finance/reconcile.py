"""The daily reconciliation of a derived day, three ways:

1. the day's voucher lines, summed per (currency, GL account, ledger code), against the
   ledger's own posted entries of the same seq range, summed per (currency, ledger code)
   straight from the entries (no transfer, flow or voucher grouping): `amount_mismatch`;
2. each stored voucher's lines against its stored body hash: `voucher_altered`;
3. the day's voucher ids and body hashes against what the finance system says it booked
   (`Finance.booked`, the push client's): `missing_at_receiver`, `unknown_at_receiver`,
   `body_mismatch`.

The outcome is stored on the day (`finance_days.recon_status` `ok` with 0 breaks, else
`breaks`, and the breaks as JSON). The receiver is asked outside any transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
RECON_DAYS_PER_CALL_MAX = 31
UNMAPPED_GL = "unmapped"


@dataclass(frozen=True, slots=True)
class DayReconciliation:
    business_date: date
    status: str
    """pending (never reconciled) | ok | breaks"""
    breaks: tuple[dict[str, Any], ...]
    receiver_checked: bool
    """False: no finance system was asked (none configured); only the ledger was."""
    reconciled_at: datetime | None

    @property
    def ok(self) -> bool:
        return self.status == store.RECON_OK

    def view(self) -> dict[str, Any]:
        return {
            "business_date": self.business_date.isoformat(),
            "status": self.status,
            "breaks": list(self.breaks),
            "receiver_checked": self.receiver_checked,
            "reconciled_at": self.reconciled_at.isoformat() if self.reconciled_at else None,
        }


def reconcile_day(finance: Finance, business_date: date) -> DayReconciliation:
    check_date(business_date, field="date")
    with finance.engine.connect() as conn:
        day = _derived(conn, business_date)
        after = store.seq_before(conn, business_date)
        ledger = store_journal.ledger_sums(conn, after=after, upto=int(day.last_seq))
        lines = store.line_sums(conn, business_date)
        stored = store.load_vouchers(conn, business_date)
        hashes = store.stored_hashes(conn, business_date)
    breaks = altered(stored, hashes) + amount_breaks(lines, _by_gl(finance, ledger))
    if finance.booked is not None:
        breaks += receiver_breaks(hashes, _booked(finance, business_date))
    return _record(finance, business_date, breaks, receiver_checked=finance.booked is not None)


def _booked(finance: Finance, business_date: date) -> Mapping[str, str]:
    """What the finance system booked that day; nothing is recorded if it cannot say."""
    if finance.booked is None:
        return {}
    try:
        return finance.booked(business_date)
    except ReceiverError as error:
        raise Rejected("finance_receiver_unavailable", f"{business_date}: {error}") from None


def _by_gl(finance: Finance, ledger: dict[tuple[str, int], list[int]]) -> dict[AmountKey, Any]:
    """The ledger's sums keyed like the voucher lines, through the chart in force."""
    return {
        (currency, finance.chart.by_ledger_code.get(code, UNMAPPED_GL), code): (debit, credit)
        for (currency, code), (debit, credit) in ledger.items()
    }


def _record(
    finance: Finance, business_date: date, breaks: list[Break], *, receiver_checked: bool
) -> DayReconciliation:
    now = finance.clock.now()
    status = store.RECON_BREAKS if breaks else store.RECON_OK
    views = tuple(b.view() for b in breaks)
    with finance.engine.begin() as conn:
        store.record_recon(
            conn,
            business_date,
            status=status,
            breaks={"receiver_checked": receiver_checked, "breaks": list(views)},
            now=now,
        )
    if breaks:
        log.error(
            "finance day %s does not reconcile: %d breaks",
            business_date,
            len(breaks),
            extra={"day": business_date.isoformat(), "breaks": [b["kind"] for b in views]},
        )
    return DayReconciliation(business_date, status, views, receiver_checked, now)


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
    )


def reconcile_due(finance: Finance) -> list[DayReconciliation]:
    """Days never reconciled, or with breaks an hour old, whose vouchers are all pushed."""
    retry_before = finance.clock.now() - timedelta(seconds=RECON_RETRY_S)
    with finance.engine.connect() as conn:
        days = store.days_to_reconcile(
            conn, retry_before=retry_before, limit=RECON_DAYS_PER_CALL_MAX
        )
    return [reconcile_day(finance, day) for day in days]


def _derived(conn: Any, business_date: date) -> Any:
    day = store.day(conn, business_date)
    if day is None:
        raise Rejected("finance_day_not_found", f"{business_date} has not been derived")
    return day
