"""Matching one source's statement lines of a business day against payment orders.

Set-based SQL, portable between SQLite (3.35+: UPDATE ... FROM, MATERIALIZED) and PostgreSQL:
a million lines against a million orders is a handful of joins on indexes, never a
Python dict of everything.

  1. lines → orders by the channel's transaction id (most already as they are imported,
     `match_by_txn`; the run matches those whose order came later);
  2. the rest by reference (our order id echoed back, as sure as the channel's id) within
     the date window; a different amount or currency is then an `amount_mismatch`;
  3. a second line claiming an order already claimed in the same direction is a duplicate
     (a returned payout has two lines: the payment, then the return, a credit);
  4. breaks are inserted with a dedup key, so re-running a day adds none twice.

Orders that finished on the day may appear on the next day's statement: an unmatched
succeeded order counts as `missing_on_channel_side` only once `window_days` have passed.
A run catches up: it covers every day since the last day a run of the source judged
(`Span`), as if the runs skipped meanwhile had happened, in the same few statements.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Connection, Date, TextClause, bindparam, text
from sqlalchemy.types import TypeEngine

from paycore.platform.db import UTCDateTime
from paycore.recon import store, store_lines
from paycore.recon.model import day_start

SUCCEEDED = "('succeeded', 'returned')"
"""Order statuses that mean the money moved (a returned payout had succeeded first)."""


CATCH_UP_DAYS_MAX = 31
"""How many days one run judges at most. A month covers any late file or skipped run in
practice and keeps one run's transaction bounded; a source silent for longer is a stopped
feed for an operator to look at, whose older days can still be run one by one."""


RUN_WORK_MEM_MB = 128
"""PostgreSQL memory for each hash or sort of a run (a million orders hash in ~75 MB)."""


@dataclass(frozen=True, slots=True)
class Span:
    """The days one run of `day` covers: the lines of `first_line_day`..`day`, and the
    orders that finished `judged_from`..`judged_through` (each day `window_days` earlier)."""

    first_line_day: date
    day: date
    judged_from: date
    judged_through: date


def span_of(conn: Connection, *, source: str, day: date, window_days: int) -> Span:
    """From the day after the last day judged for `source` through `day` - window, at most
    CATCH_UP_DAYS_MAX days; never less than `day` - window itself (the first run of a
    source, or a re-run of an earlier day, judges just that)."""
    window = timedelta(days=window_days)
    judged_through = day - window
    last = store.last_judged_day(conn, source=source)
    judged_from = judged_through
    if last is not None and last < judged_through:
        oldest = judged_through - timedelta(days=CATCH_UP_DAYS_MAX - 1)
        judged_from = max(last + timedelta(days=1), oldest)
    # The lines of the days whose runs were skipped: an order may be on any of them.
    return Span(judged_from + window, day, judged_from, judged_through)


@dataclass(frozen=True, slots=True)
class DayCounts:
    lines: int
    matched: int
    waiting: int


_LINES_OF_DAY = "l.source = :src AND l.business_date >= :first_day AND l.business_date <= :day"
_IS_RETURN = "(o.kind = 'payout' AND l.direction = 'credit')"
"""A paid payout that came back: the order's second movement, with its own line (whatever
kind the bank books it as: a return, or a credit received)."""

# No `l.channel_txn_id IS NOT NULL` here: SQLite turns it into a range on the orders
# index and stops using the equality, scanning every order for each line.
_MATCH_BY_TXN = f"""
UPDATE recon_lines AS l SET order_id = o.id, matched_by = 'txn'
FROM payment_orders AS o
WHERE {_LINES_OF_DAY} AND l.order_id IS NULL AND l.duplicate = FALSE AND l.kind <> 'fee'
  AND o.channel = :src AND o.channel_txn_id = l.channel_txn_id
"""

_MATCH_BY_REFERENCE = f"""
UPDATE recon_lines AS l SET order_id = o.id, matched_by = 'reference'
FROM payment_orders AS o
WHERE {_LINES_OF_DAY} AND l.order_id IS NULL AND l.duplicate = FALSE AND l.kind <> 'fee'
  AND l.reference IS NOT NULL
  AND o.id = l.reference AND o.channel = :src AND o.created_at < :day_end
  AND (o.created_at >= :window_start OR (o.kind = 'payout' AND l.direction = 'credit'))
  AND NOT EXISTS (
    SELECT 1 FROM recon_lines AS x WHERE x.order_id = o.id AND x.direction = l.direction
  )
"""

_SECOND_CLAIM = f"""
UPDATE recon_lines AS l SET duplicate = TRUE
WHERE {_LINES_OF_DAY} AND l.order_id IS NOT NULL AND l.duplicate = FALSE
  AND EXISTS (
    SELECT 1 FROM recon_lines AS e
    WHERE e.order_id = l.order_id AND e.direction = l.direction
      AND (e.import_id < l.import_id OR (e.import_id = l.import_id AND e.line_no < l.line_no))
  )
"""

_BREAK_COLUMNS = """
  dedup_key, type, status, source, business_date, import_id, line_no, order_id, currency,
  line_amount, order_amount, line_status, order_status, line_fee, order_fee, direction,
  run_id, adjustment_attempts, created_at, updated_at
"""

_CONTRACT_FEE = (
    "(CASE WHEN o.kind = 'payin' AND o.status <> 'failed' "
    "THEN (o.amount * :fee_bps + 5000) / 10000 ELSE 0 END)"
)
"""What the channel's contract (ChannelConfig.fee_bps) says it charges on the order's line:
basis points of a paid pay-in, half up, integer arithmetic (amounts are at most 10^11, so
the product stays far inside 64 bits). Not what paycore charges the merchant: that is the
order's own fee_amount, another price."""

# One pass over the lines and their orders for every type (a line may break in several
# ways: the amount and the fee, say), not one pass and one join with the orders per type:
# the lines that break at all (a few in a hundred) are picked first with what the types'
# conditions read of them and of their orders (`o.x` read as `l.o_x` there), then crossed
# with the types. MATERIALIZED keeps the planners from crossing every line of the day with
# the five types before the join (both did: the whole day read, and joined, five times).
_BREAKING_LINES = f"""
WITH breaking AS MATERIALIZED (
  SELECT l.import_id, l.line_no, l.source, l.business_date, l.kind, l.direction, l.amount,
    l.currency, l.fee, l.status, l.duplicate, l.order_id, o.id AS o_id, o.kind AS o_kind,
    o.amount AS o_amount, o.currency AS o_currency, o.status AS o_status
  FROM recon_lines AS l LEFT JOIN payment_orders AS o ON o.id = l.order_id
  WHERE {_LINES_OF_DAY} AND ({{any_break}})
)
"""

_LINE_BREAKS_SQL = f"""
INSERT INTO recon_breaks ({_BREAK_COLUMNS})
SELECT t.type || ':' || l.import_id || ':' || CAST(l.line_no AS VARCHAR(12)), t.type, 'open',
  l.source, l.business_date, l.import_id, l.line_no, o.id, l.currency, l.amount, o.amount,
  l.status, o.status, l.fee, CASE WHEN :fee_bps >= 0 THEN {_CONTRACT_FEE} END,
  l.direction, :run, 0, :now, :now
FROM breaking AS l CROSS JOIN ({{types}}) AS t
WHERE {{conditions}}
ON CONFLICT (dedup_key) DO NOTHING
"""

LINE_BREAKS = {
    "duplicate": "l.duplicate = TRUE",
    "missing_on_our_side": (
        "l.duplicate = FALSE AND l.order_id IS NULL AND l.status = 'succeeded' AND l.kind <> 'fee'"
    ),
    "amount_mismatch": (
        "l.duplicate = FALSE AND o.id IS NOT NULL "
        "AND (l.amount <> o.amount OR l.currency <> o.currency)"
    ),
    "status_mismatch": (
        "l.duplicate = FALSE AND o.id IS NOT NULL AND ("
        f"(l.status = 'succeeded' AND o.status NOT IN {SUCCEEDED}) OR "
        f"(l.status = 'failed' AND o.status IN {SUCCEEDED}) OR "
        f"(l.status = 'succeeded' AND {_IS_RETURN} AND o.status <> 'returned'))"
    ),
    "fee_mismatch": (
        "l.duplicate = FALSE AND o.id IS NOT NULL AND l.fee IS NOT NULL AND :fee_bps >= 0"
        f" AND l.fee <> {_CONTRACT_FEE}"
        f" AND NOT {_IS_RETURN}"  # the fee was the payout's; a return states its own
    ),
}

LINE_BREAK_SQL = _BREAKING_LINES.format(
    any_break=" OR ".join(f"({c})" for c in LINE_BREAKS.values())
) + re.sub(
    r"\bo\.(\w+)",
    r"l.o_\1",
    _LINE_BREAKS_SQL.format(
        types=" UNION ALL ".join(f"SELECT CAST('{t}' AS VARCHAR(24)) AS type" for t in LINE_BREAKS),
        conditions=" OR ".join(f"(t.type = '{t}' AND {c})" for t, c in LINE_BREAKS.items()),
    ),
)

_UNMATCHED_ORDERS = f"""
FROM payment_orders AS o
WHERE o.kind IN ('payin', 'payout', 'refund') AND o.status IN {SUCCEEDED}
  AND o.finished_at >= :from_at AND o.finished_at < :to_at AND {{channel}} = :src
  AND NOT EXISTS (SELECT 1 FROM recon_lines AS l WHERE l.order_id = o.id)
"""

_ORDER_CHANNEL = {"sqlite": "+o.channel", "postgresql": "o.channel"}
"""SQLite, without statistics, prefers the equality on the channel and reads every order
the channel ever had to find the few that finished in the days judged; `+` keeps it off
that index, so it ranges over ix_payment_orders_finished instead. PostgreSQL's planner
has statistics (and no unary plus for text)."""

_ORDER_BREAK = f"""
INSERT INTO recon_breaks ({_BREAK_COLUMNS})
SELECT 'missing_on_channel_side:' || o.id, 'missing_on_channel_side', 'open',
  CAST(:src AS VARCHAR(64)), :day, NULL, NULL, o.id, o.currency, NULL, o.amount, NULL,
  o.status, NULL, o.fee_amount,
  CASE WHEN o.kind = 'payin' THEN 'credit' ELSE 'debit' END, :run, 0, :now, :now
{{unmatched_orders}}
ON CONFLICT (dedup_key) DO NOTHING
"""

_COUNT_LINES = f"""
SELECT COUNT(*),
  COALESCE(SUM(CASE WHEN l.order_id IS NOT NULL AND l.duplicate = FALSE THEN 1 ELSE 0 END), 0)
FROM recon_lines AS l WHERE {_LINES_OF_DAY}
"""

_BREAK_IS_RETURN = "(o.kind = 'payout' AND b.direction = 'credit')"

_STATUS_NOW_AGREES = f"""
SELECT b.id, o.status FROM recon_breaks AS b
JOIN payment_orders AS o ON o.id = b.order_id
WHERE b.source = :src AND b.business_date >= :first_day AND b.business_date <= :day
  AND b.type = 'status_mismatch'
  AND b.status <> 'resolved'
  AND ((b.line_status = 'succeeded' AND {_BREAK_IS_RETURN} AND o.status = 'returned')
    OR (b.line_status = 'succeeded' AND NOT {_BREAK_IS_RETURN} AND o.status IN {SUCCEEDED})
    OR (b.line_status = 'failed' AND o.status NOT IN {SUCCEEDED}
        AND o.status NOT IN ('created', 'processing')))
"""

_UNFINISHED_MISMATCHES = """
SELECT DISTINCT o.id FROM recon_breaks AS b
JOIN payment_orders AS o ON o.id = b.order_id
WHERE b.source = :src AND b.business_date >= :first_day AND b.business_date <= :day
  AND b.type = 'status_mismatch'
  AND b.status <> 'resolved' AND o.status IN ('created', 'processing')
"""

_RETURNS_NOT_SEEN = f"""
SELECT DISTINCT o.id FROM recon_breaks AS b
JOIN payment_orders AS o ON o.id = b.order_id
WHERE b.source = :src AND b.business_date >= :first_day AND b.business_date <= :day
  AND b.type = 'status_mismatch'
  AND b.status <> 'resolved' AND {_BREAK_IS_RETURN} AND o.status = 'succeeded'
"""


def _unmatched_orders(dialect: str) -> str:
    return _UNMATCHED_ORDERS.format(channel=_ORDER_CHANNEL[dialect])


def order_break_sql(dialect: str) -> str:
    """The statement recording `missing_on_channel_side` for the days judged."""
    return _ORDER_BREAK.format(unmatched_orders=_unmatched_orders(dialect))


def match_by_txn(conn: Connection, rows: Sequence[list[Any]], *, source: str) -> None:
    """Match a chunk of lines being imported (store_lines.COLUMNS lists) by the channel's
    transaction id, before they are stored. The run matches by txn id too (orders
    recorded after the import), but writing a million order ids into stored lines
    rewrites every line (PostgreSQL keeps row versions): most of a run's time. A txn id
    names its order whatever the day, so matching it early gives the run's answer."""
    txn_at, kind_at = store_lines.CHANNEL_TXN_ID, store_lines.KIND
    candidates = [r for r in rows if r[txn_at] is not None and r[kind_at] != "fee"]
    if not candidates:
        return
    found = store.orders_by_txn(conn, channel=source, txn_ids={r[txn_at] for r in candidates})
    if not found:
        return
    order_at, by_at = store_lines.ORDER_ID, store_lines.MATCHED_BY
    for row in candidates:
        order_id = found.get(row[txn_at])
        if order_id is not None:
            row[order_at], row[by_at] = order_id, "txn"


def match_day(
    conn: Connection,
    *,
    source: str,
    span: Span,
    run_id: str,
    now: datetime,
    window_days: int,
    fee_bps: int | None = None,
) -> DayCounts:
    """Match, flag duplicates and record the breaks of the span's days, in the caller's
    transaction. `fee_bps`: the channel's contracted pay-in fee; None compares no fees."""
    day_end = day_start(span.day + timedelta(days=1))
    params = {
        "fee_bps": -1 if fee_bps is None else fee_bps,
        "src": source,
        "first_day": span.first_line_day,
        "day": span.day,
        "run": run_id,
        "now": now,
        "window_start": day_start(span.first_line_day - timedelta(days=window_days)),
        "day_end": day_end,
    }
    if conn.dialect.name == "postgresql":
        # The joins of a day's lines with the orders hash a million rows: at the default
        # 4 MB each spills to disk in dozens of batches. For this transaction only.
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{RUN_WORK_MEM_MB}MB'")
        # The run's statements cost past jit_above_cost, and compiling them took longer
        # than it saved (the line breaks of 200,000 lines: 2.6 s with JIT, 1.5 s without).
        conn.exec_driver_sql("SET LOCAL jit = off")
    conn.execute(_sql(_MATCH_BY_TXN), params)
    conn.execute(_sql(_MATCH_BY_REFERENCE), params)
    conn.execute(_sql(_SECOND_CLAIM), params)
    conn.execute(_sql(LINE_BREAK_SQL), params)
    judged = {
        "from_at": day_start(span.judged_from),
        "to_at": day_start(span.judged_through + timedelta(days=1)),
    }
    conn.execute(_sql(order_break_sql(conn.dialect.name)), {**params, **judged})
    waiting_range = {"from_at": judged["to_at"], "to_at": day_end}
    waiting = conn.execute(
        _sql("SELECT COUNT(*) " + _unmatched_orders(conn.dialect.name)),
        {**params, **waiting_range},
    ).scalar_one()
    total, matched = conn.execute(_sql(_COUNT_LINES), params).one()
    return DayCounts(lines=int(total), matched=int(matched), waiting=int(waiting))


def status_now_agrees(conn: Connection, *, source: str, span: Span) -> list[tuple[int, str]]:
    """Open status mismatches whose order has since reached a status the line agrees with."""
    rows = conn.execute(_sql(_STATUS_NOW_AGREES), _days(source, span))
    return [(int(r[0]), str(r[1])) for r in rows]


def unfinished_mismatched_orders(conn: Connection, *, source: str, span: Span) -> list[str]:
    rows = conn.execute(_sql(_UNFINISHED_MISMATCHES), _days(source, span))
    return [str(r[0]) for r in rows]


def returns_not_seen(conn: Connection, *, source: str, span: Span) -> list[str]:
    """Payouts we hold succeeded that the statement shows returned."""
    rows = conn.execute(_sql(_RETURNS_NOT_SEEN), _days(source, span))
    return [str(r[0]) for r in rows]


def _days(source: str, span: Span) -> dict[str, Any]:
    return {"src": source, "first_day": span.first_line_day, "day": span.day}


_TYPED_PARAMS: dict[str, TypeEngine[Any]] = {
    "first_day": Date(),
    "day": Date(),
    "now": UTCDateTime(),
    "window_start": UTCDateTime(),
    "day_end": UTCDateTime(),
    "from_at": UTCDateTime(),
    "to_at": UTCDateTime(),
}


def _sql(statement: str) -> TextClause:
    """Raw SQL with its dates and instants bound through the column types, so SQLite gets
    the same text form the tables store and PostgreSQL a real timestamp."""
    typed: list[BindParameter[Any]] = [
        bindparam(n, type_=t) for n, t in _TYPED_PARAMS.items() if re.search(rf":{n}\b", statement)
    ]
    return text(statement).bindparams(*typed)
