"""Day close: each finished bill day's movements and closing snapshots, rolled up once per
owned account, so a month's statement reads O(days) rows instead of every entry.

The journal is read once, in seq order, from where the last closed day stopped; a day
takes the leading entries stamped before its end (the journal is in time order, so the
first later one starts the next day). An entry stamped in an earlier, closed day that
shows up after it (late) goes to the day being closed: the proof then names its account.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from paycore.bills import store, store_journal
from paycore.bills.journal import Fold, JournalEntry, debit_normal, order_id_of
from paycore.bills.model import Balances, bill_day_of, day_period

if TYPE_CHECKING:
    from paycore.bills.service import Bills

log = logging.getLogger(__name__)

DAY_CLOSE_GRACE_S = 60
"""A bill day is rolled up this long after it ends, so that a transfer stamped 23:59:59.9
and committed a moment later still lands in its own day."""
READ_BATCH = 5_000


class _Tail:
    """The journal after the last closed day, read in batches and handed out per day."""

    def __init__(self, bills: Bills, after_seq: int) -> None:
        self._bills = bills
        self._seq = after_seq
        self._buffer: list[JournalEntry] = []
        self._exhausted = False

    def until(self, end: datetime) -> list[JournalEntry]:
        """The next entries stamped before `end`."""
        while not self._exhausted and all(e.created_at < end for e in self._buffer[-1:]):
            with self._bills.engine.connect() as conn:
                batch = store_journal.owned_entries_after(conn, self._seq, READ_BATCH)
            self._buffer.extend(batch)
            self._seq = batch[-1].seq if batch else self._seq
            self._exhausted = len(batch) < READ_BATCH
        for index, entry in enumerate(self._buffer):
            if entry.created_at >= end:
                taken, self._buffer = self._buffer[:index], self._buffer[index:]
                return taken
        taken, self._buffer = self._buffer, []
        return taken


def close_days(bills: Bills, until: date | None) -> list[date]:
    closed: list[date] = []
    with bills.engine.connect() as conn:
        last = store.last_closed(conn)
        first_at = store_journal.first_entry_at(conn) if last is None else None
    if last is None and first_at is None:
        return closed  # an empty journal has no day to close
    day = last[0] + timedelta(days=1) if last else bill_day_of(first_at)  # type: ignore[arg-type]
    cursor = last[1] if last else 0
    tail = _Tail(bills, cursor)
    while True:
        end = day_period(day).end
        if bills.clock.now() < end + timedelta(seconds=DAY_CLOSE_GRACE_S):
            return closed
        if until is not None and day > until:
            return closed
        moved = tail.until(end)
        cursor = moved[-1].seq if moved else cursor
        if not _close_day(bills, day, moved, cursor):
            return closed  # another worker is closing days: leave the rest to it
        closed.append(day)
        day += timedelta(days=1)


def _close_day(bills: Bills, day: date, moved: list[JournalEntry], cursor: int) -> bool:
    try:
        with bills.engine.begin() as conn:
            ids = {e.account_id for e in moved}
            kinds = store_journal.codes_and_flags(conn, ids)
            normal = {a: debit_normal(*kinds[a]) for a in ids}
            opening = _snapshots(store.day_balances_before(conn, ids, day))
            orders = store_journal.order_facts(conn, payin_orders(moved))
            fold = Fold(normal, orders, opening)
            fold.add_all(moved)
            store.close_day(
                conn,
                day=day,
                lines=fold.lines,
                balances={a: (fold.closing[a], fold.last_seq[a]) for a in ids},
                entries_count=len(moved),
                last_seq=cursor,
                closed_at=bills.clock.now(),
            )
    except IntegrityError:
        log.info("bill day %s was closed by another worker", day)
        return False
    log.info("bill day closed", extra={"day": day.isoformat(), "entries": len(moved)})
    return True


def _snapshots(found: dict[str, tuple[Balances, int]]) -> dict[str, Balances]:
    return {account: balances for account, (balances, _seq) in found.items()}


def payin_orders(entries: list[JournalEntry]) -> set[str]:
    """The pay-in orders behind the entries (their product, channel and fee)."""
    return {
        order
        for e in entries
        if e.transfer_id.startswith("tr_pay_") and (order := order_id_of(e.transfer_id))
    }
