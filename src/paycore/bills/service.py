"""Use cases of the bills slice: statements derived from the ledger journal, the transfers
behind each line, day close, the proof and month seal (`proof.py`, `sealing.py`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from paycore.bills import daily, freshness, proof, sealing, store, store_journal
from paycore.bills.journal import Fold, JournalEntry, debit_normal, order_id_of, parts_of
from paycore.bills.model import (
    AccountStatement,
    Balances,
    Category,
    Period,
    Statement,
    classify,
    day_period,
    month_period,
    period_of,
    previous_month,
    sealed_closings,
    statement_lines,
)
from paycore.clock import Clock
from paycore.errors import Rejected

log = logging.getLogger(__name__)

LINE_SCAN_BATCH = 5_000
LINE_PAGE_MAX = 200
HOLDS_SHOWN_MAX = 50


class Bills:
    """Statements, their proof and month close. Reads go to `read_engine` (the bounded
    reports pool, possibly a replica); day rollups and seals are written to `engine`."""

    def __init__(self, engine: Engine, read_engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.read_engine = read_engine
        self.clock = clock

    # -- statements ----------------------------------------------------------------------

    def statement(
        self, merchant_id: str, period_label: str, owner_id: str | None = None
    ) -> Statement:
        """The merchant's (or one wallet owner's) statement of a month or a day."""
        period = period_of(period_label)
        with self.read_engine.connect() as conn:
            return self.statement_on(conn, merchant_id, period, owner_id, rollups=True)

    def statement_on(
        self,
        conn: Connection,
        merchant_id: str,
        period: Period,
        owner_id: str | None,
        *,
        rollups: bool,
    ) -> Statement:
        """The statement read on `conn`: from the day rollups where days are closed
        (`rollups`), else from the raw journal alone (the proof's second opinion)."""
        # Measured before any read, so every later read is at least this fresh.
        as_of = freshness.as_of(conn, self.clock.now())
        rows = store_journal.merchant_accounts(conn, merchant_id, owner_id)
        normal = {r.id: debit_normal(r.code, r.flags) for r in rows}
        opening, fold = self._fold(conn, normal, period, rollups=rollups)
        sealed_opening: dict[str, Balances] | None = None
        sealed_hash = None
        if period.is_month:
            previous = store.sealed(conn, merchant_id, previous_month(period.label))
            if previous is not None:
                sealed_opening = sealed_closings(previous.lines)
            this = store.sealed(conn, merchant_id, period.label)
            sealed_hash = this.hash if this is not None else None
        movements = fold.movements()
        accounts = []
        for row in rows:
            journal_opening = opening.get(row.id, Balances())
            shown = journal_opening
            adjustment = 0
            if sealed_opening is not None:
                # A sealed month is never edited: the next month opens where it closed and
                # carries what the journal says differently as an adjustment.
                shown = sealed_opening.get(row.id, Balances())
                adjustment = journal_opening.posted(normal[row.id]) - shown.posted(normal[row.id])
            accounts.append(
                AccountStatement(
                    account_id=row.id,
                    owner_id=row.owner_id,
                    code=row.code,
                    currency=row.currency,
                    debit_normal=normal[row.id],
                    opening=shown,
                    closing=fold.closing.get(row.id, Balances()),
                    movements=movements.get(row.id, ()),
                    adjustment=adjustment,
                )
            )
        return Statement(
            merchant_id=merchant_id,
            owner_id=owner_id,
            period=period,
            accounts=tuple(accounts),
            as_of=as_of,
            sealed_hash=sealed_hash,
            extras=self._extras(conn, accounts),
        )

    def _fold(
        self, conn: Connection, normal: Mapping[str, bool], period: Period, *, rollups: bool
    ) -> tuple[dict[str, Balances], Fold]:
        ids = list(normal)
        days = period.days
        first, last = days[0], days[-1]
        closed = store.last_closed(conn) if rollups else None
        raw_start, after_seq = period.start, None
        if closed is not None:
            # The last closed snapshot before the period (or before the rollups' end, if
            # they lag behind it); what came after the rolled-up seq is read raw below.
            base_day = min(first, closed[0] + timedelta(days=1))
            opening = _snapshots(store.day_balances_before(conn, ids, base_day))
            fold = Fold(normal, {}, dict(opening))
            if closed[0] >= first:
                upto = min(closed[0], last)
                fold.merge_lines(store.rollup_lines(conn, ids, first=first, last=upto))
                fold.closing.update(
                    _snapshots(store.day_balances_before(conn, ids, upto + timedelta(days=1)))
                )
                raw_start = day_period(upto + timedelta(days=1)).start
            after_seq = closed[1]
        else:
            opening = _snapshots(store_journal.balances_at(conn, ids, period.start))
            fold = Fold(normal, {}, dict(opening))
        if raw_start < period.end and ids:
            # After the rolled-up seq, every entry is news, even one stamped in a closed
            # day (late): before the period it moves the opening, inside it a line.
            entries = list(
                store_journal.journal_entries(
                    conn,
                    ids,
                    start=None if after_seq is not None else raw_start,
                    end=period.end,
                    after_seq=after_seq,
                )
            )
            fold.orders = store_journal.order_facts(conn, daily.payin_orders(entries))
            for entry in entries:
                if entry.created_at < period.start:
                    account = entry.account_id
                    before = fold.closing.get(account, Balances())
                    opening[account] = _shifted(
                        opening.get(account, Balances()), before, entry.balances
                    )
                    fold.closing[account] = entry.balances
                else:
                    fold.add(entry)
        return opening, fold

    def _extras(self, conn: Connection, accounts: list[AccountStatement]) -> dict[str, object]:
        """What the page needs beyond the lines: debts owed and the holds still live."""
        debts = [
            {"account_id": a.account_id, "code": a.code, "amount": abs(posted)}
            for a in accounts
            if (posted := a.closing.posted(a.debit_normal))
            and (posted > 0 if a.debit_normal else posted < 0)
        ]
        ids = {a.account_id for a in accounts}
        holds = []
        for t in store_journal.live_holds(conn, ids, HOLDS_SHOWN_MAX):
            outgoing = t.debit_account_id in ids
            account_id = t.debit_account_id if outgoing else t.credit_account_id
            holds.append(
                {
                    "transfer_id": t.id,
                    "order_id": order_id_of(t.id),
                    "account_id": account_id,
                    "direction": "out" if outgoing else "in",
                    "category": _hold_category(t.id, t.code, outgoing).value,
                    "amount": t.amount,
                    "created_at": t.created_at,
                    "expires_at": t.expires_at,
                }
            )
        owners = sorted({a.owner_id.split(":", 1)[1] for a in accounts if ":" in a.owner_id})
        return {"debts": debts, "holds": holds, "owners": owners}

    # -- the transfers behind a line -----------------------------------------------------

    def line_transfers(
        self,
        merchant_id: str,
        period_label: str,
        account_id: str,
        category: str,
        product: str = "",
        channel: str = "",
        after: int | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """The journal entries behind one statement line, in journal order, keyset-paged by
        entry seq (`next_after`)."""
        period = period_of(period_label)
        if not 1 <= limit <= LINE_PAGE_MAX:
            raise Rejected("invalid_limit", f"limit must be 1..{LINE_PAGE_MAX}")
        try:
            wanted = (account_id, Category(category), product, channel)
        except ValueError:
            raise Rejected("invalid_category", f"no statement line {category!r}") from None
        with self.read_engine.connect() as conn:
            mine = {r.id: r for r in store_journal.merchant_accounts(conn, merchant_id, None)}
            row = mine.get(account_id)
            if row is None:
                raise Rejected("account_not_found", f"no account {account_id} on this bill")
            normal = debit_normal(row.code, row.flags)
            if after is None:
                previous = store_journal.balances_at(conn, [account_id], period.start)
                before = previous.get(account_id, (Balances(), 0))[0]
            else:
                found = store_journal.entry_balances(conn, after, account_id)
                if found is None:
                    raise Rejected("invalid_cursor", f"after={after} is not a page of this line")
                before = found
            return self._scan_line(conn, period, wanted, normal, before, after, limit)

    def _scan_line(
        self,
        conn: Connection,
        period: Period,
        wanted: tuple[str, Category, str, str],
        normal: bool,
        before: Balances,
        after: int | None,
        limit: int,
    ) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        cursor = after
        while True:
            batch = list(
                store_journal.journal_entries(
                    conn,
                    [wanted[0]],
                    start=period.start,
                    end=period.end,
                    after_seq=cursor,
                    limit=LINE_SCAN_BATCH,
                )
            )
            orders = store_journal.order_facts(conn, daily.payin_orders(batch))
            for entry in batch:
                for part in parts_of(entry, before, debit_normal=normal, orders=orders):
                    if part.key == wanted:
                        items.append(_line_item(entry, part.amount_in, part.amount_out))
                before, cursor = entry.balances, entry.seq
                if len(items) == limit:
                    return {"items": items, "next_after": cursor}
            if len(batch) < LINE_SCAN_BATCH:
                return {"items": items, "next_after": None}

    # -- day close -----------------------------------------------------------------------

    def close_days(self, until: date | None = None) -> list[date]:
        """Roll up every finished bill day not closed yet, in order, one transaction per
        day. Idempotent: a closed day is never rolled up again."""
        return daily.close_days(self, until)

    def run_worker(self, stop: threading.Event, interval_s: float = 30.0) -> None:
        """Close finished days, then seal finished months, until `stop` is set."""
        while not stop.wait(interval_s):
            try:
                self.close_days()
                self.close_due_months()
            except Exception:  # a worker survives a bad round; the next one retries
                log.exception("bills close failed")

    # -- proof and seal (rules in proof.py and sealing.py) --------------------------------

    def close_due_months(self) -> list[str]:
        """Seal every finished month whose days are closed; the months sealed now."""
        return sealing.close_due_months(self)

    def close_month(self, month: str) -> list[str]:
        """Seal `month` for every merchant (idempotent); the merchants sealed now."""
        return sealing.close_month(self, month)

    def verify_seals(self, month: str | None = None) -> list[sealing.SealProblem]:
        return sealing.verify_seals(self, month)

    def check(self, month: str, merchant_id: str | None = None) -> proof.CheckReport:
        """Prove the month's statements (every merchant's, or one's) against the journal."""
        return proof.check_month(self, month, merchant_id)

    def month_statement(self, merchant_id: str, month: str) -> dict[str, Any]:
        """A month as sealed (its stored lines and hash), or as the journal says so far."""
        period = month_period(month)
        with self.read_engine.connect() as conn:
            row = store.sealed(conn, merchant_id, month)
            if row is not None:
                return {
                    "merchant_id": merchant_id,
                    "month": month,
                    "sealed": True,
                    "hash": row.hash,
                    "previous_hash": row.previous_hash,
                    "sealed_at": row.sealed_at,
                    "as_of": row.sealed_at,
                    "lines": row.lines,
                }
            statement = self.statement_on(conn, merchant_id, period, None, rollups=True)
        return {
            "merchant_id": merchant_id,
            "month": month,
            "sealed": False,
            "hash": None,
            "previous_hash": None,
            "sealed_at": None,
            "as_of": statement.as_of,
            "lines": statement_lines(statement),
        }


def _shifted(base: Balances, before: Balances, after: Balances) -> Balances:
    """`base` moved by what one entry did (after - before)."""
    return Balances(
        base.debits_pending + after.debits_pending - before.debits_pending,
        base.debits_posted + after.debits_posted - before.debits_posted,
        base.credits_pending + after.credits_pending - before.credits_pending,
        base.credits_posted + after.credits_posted - before.credits_posted,
    )


def _snapshots(found: Mapping[str, tuple[Balances, int]]) -> dict[str, Balances]:
    return {account: balances for account, (balances, _seq) in found.items()}


def _hold_category(transfer_id: str, code: int, outgoing: bool) -> Category:
    return classify(transfer_id, code, not outgoing)


def _line_item(entry: JournalEntry, amount_in: int, amount_out: int) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "transfer_id": entry.transfer_id,
        "order_id": order_id_of(entry.transfer_id),
        "code": entry.code,
        "amount_in": amount_in,
        "amount_out": amount_out,
        "created_at": entry.created_at,
    }
