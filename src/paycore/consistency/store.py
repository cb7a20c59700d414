"""Read-only SQL over the flows' tables next to the ledger's transfers.

Each query joins a flow's records to the transfers whose ids the flow derives from them
(primary-key lookups, or a hash join on a big table) and lets the database keep only the
rows the rules in `model.py` may object to, so a healthy database returns almost nothing.
Tables with a single-column key are read in pages of `PAGE_ROWS` by keyset; each page is
one statement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    and_,
    cast,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.elements import KeyedColumnElement
from sqlalchemy.sql.expression import FromClause

from paycore.collection.store import attempts as collection_attempts
from paycore.collection.store import plans as collection_plans
from paycore.consistency.model import HOLD_ALLOWED, LEGS_REQUIRED, MISSING, PAGE_ROWS, Seen
from paycore.custody.store import deals as custody_deals
from paycore.custody.store import receipts as custody_receipts
from paycore.ledger.store import transfers
from paycore.payments.store import orders
from paycore.rewards.store import rows as reward_rows
from paycore.split.store import splits

Page = tuple[str | None, str | None]
"""(after, up_to): the keys of one page, exclusive below and inclusive above (None: open)."""


def snapshot(engine: Engine) -> Connection:
    """A connection whose every statement sees the same moment: a record read by one
    statement and its transfers by the next must not straddle a flow's step. SQLite's
    read transaction is a snapshot already; PostgreSQL needs REPEATABLE READ."""
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return conn


def pages(conn: Connection, key: KeyedColumnElement[Any]) -> Iterator[Page]:
    """Keyset pages of `PAGE_ROWS` keys over a table's primary key."""
    after: str | None = None
    while True:
        query = select(key).order_by(key).offset(PAGE_ROWS - 1).limit(1)
        if after is not None:
            query = query.where(key > after)
        up_to = conn.execute(query).scalar()
        yield after, up_to
        if up_to is None:
            return
        after = up_to


def _in_page(key: KeyedColumnElement[Any], page: Page) -> ColumnElement[bool]:
    after, up_to = page
    clauses = [key > after] if after is not None else []
    if up_to is not None:
        clauses.append(key <= up_to)
    return and_(True, *clauses)


def _derived(prefix: str, key: ColumnElement[Any], suffix: str) -> ColumnElement[Any]:
    """A transfer id the flow derives from its record: `prefix || key || suffix`."""
    return literal(prefix, String) + key + literal(suffix, String)


# -- payments -------------------------------------------------------------------------------

_HOLD_LEGS = ("hold", "post", "void", "out", "ret")
_AMOUNT_LEGS = ("hold", "post", "out", "ret")
"""The own transfers that move the order's whole amount (a void releases what is left)."""


def payment_holds(conn: Connection, page: Page) -> list[dict[str, Any]]:
    """Payouts and refunds of the page whose hold or settling legs break `HOLD_ALLOWED`
    or `LEGS_REQUIRED`, with the status of the hold and the created_at of each own leg."""
    legs = {leg: transfers.alias(f"t_{leg}") for leg in _HOLD_LEGS}
    hold_status = func.coalesce(legs["hold"].c.status, MISSING)
    amounts_agree = [
        or_(legs[leg].c.amount.is_(None), legs[leg].c.amount == orders.c.amount)
        for leg in _AMOUNT_LEGS
    ]
    healthy = [
        and_(
            orders.c.kind == kind,
            orders.c.status == status,
            hold_status.in_(sorted(allowed)),
            *(legs[leg].c.id.is_not(None) for leg in LEGS_REQUIRED.get((kind, status), ())),
            *amounts_agree,
        )
        for (kind, status), allowed in HOLD_ALLOWED.items()
    ]
    source: FromClause = orders
    for leg, alias in legs.items():
        source = source.outerjoin(alias, alias.c.id == _derived("tr_", orders.c.id, f"_{leg}"))
    query = (
        select(
            orders.c.id,
            orders.c.kind,
            orders.c.status,
            orders.c.updated_at,
            orders.c.amount,
            hold_status.label("hold_status"),
            *(alias.c.created_at.label(f"{leg}_at") for leg, alias in legs.items()),
            *(legs[leg].c.amount.label(f"{leg}_amount") for leg in _AMOUNT_LEGS),
        )
        .select_from(source)
        .where(
            _in_page(orders.c.id, page),
            orders.c.kind.in_(["payout", "refund"]),
            ~or_(false(), *healthy),
        )
        .order_by(orders.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def payin_settlements(conn: Connection, page: Page) -> list[dict[str, Any]]:
    """Pay-ins of the page that succeeded without a capture (or with one for another amount),
    or have one without success."""
    cap, fee = transfers.alias("t_cap"), transfers.alias("t_fee")
    settled = or_(cap.c.id.is_not(None), fee.c.id.is_not(None))
    captured, fee_taken = func.coalesce(cap.c.amount, 0), func.coalesce(fee.c.amount, 0)
    query = (
        select(
            orders.c.id,
            orders.c.status,
            (orders.c.amount - orders.c.fee_amount).label("net_amount"),
            func.coalesce(cap.c.created_at, fee.c.created_at).label("settled_at"),
            orders.c.fee_amount,
            captured.label("captured"),
            fee_taken.label("fee_taken"),
        )
        .select_from(
            orders.outerjoin(cap, cap.c.id == _derived("tr_", orders.c.id, "_cap")).outerjoin(
                fee, fee.c.id == _derived("tr_", orders.c.id, "_fee")
            )
        )
        .where(
            _in_page(orders.c.id, page),
            orders.c.kind == "payin",
            or_(
                and_(orders.c.status == "succeeded", ~settled),
                and_(
                    orders.c.status == "succeeded",
                    or_(
                        captured != orders.c.amount - orders.c.fee_amount,
                        fee_taken != orders.c.fee_amount,
                    ),
                ),
                and_(orders.c.status != "succeeded", settled),
            ),
        )
        .order_by(orders.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


# -- split ----------------------------------------------------------------------------------


def splits_at_rest(conn: Connection, page: Page) -> list[dict[str, Any]]:
    """Splits of the page with no operation in flight (one in flight is replayed by the
    slice's sweep, and its legs may be a step ahead of or behind the ledger). Read in the
    same snapshot as their transfers (`service.py`)."""
    query = (
        select(splits.c.id, splits.c.legs)
        .where(_in_page(splits.c.id, page), splits.c.op_pending.is_(False))
        .order_by(splits.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def transfer_statuses(conn: Connection, ids: Sequence[str]) -> dict[str, Seen]:
    """id -> (status, created_at, amount) of the transfers of `ids` that exist."""
    found: dict[str, Seen] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), PAGE_ROWS):
        chunk = unique[start : start + PAGE_ROWS]
        query = select(
            transfers.c.id, transfers.c.status, transfers.c.created_at, transfers.c.amount
        ).where(transfers.c.id.in_(chunk))
        found.update(
            {row.id: (row.status, row.created_at, row.amount) for row in conn.execute(query)}
        )
    return found


# -- custody --------------------------------------------------------------------------------


def custody_receipts_page(conn: Connection, page: Page) -> list[dict[str, Any]]:
    """The page's receipts, with the status of the refund order a refunded one names."""
    r, refund = custody_receipts, orders.alias("refund")
    query = (
        select(
            r.c.id,
            r.c.status,
            r.c.cutoff_step,
            r.c.move_attempt,
            r.c.amount,
            r.c.refund_id,
            refund.c.status.label("refund_status"),
        )
        .select_from(
            r.outerjoin(refund, and_(r.c.status == "refunded", refund.c.id == r.c.refund_id))
        )
        .where(_in_page(r.c.id, page))
        .order_by(r.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def closed_deals_page(conn: Connection, page: Page) -> list[dict[str, Any]]:
    d = custody_deals
    query = (
        select(
            d.c.id, d.c.status, d.c.close_attempt, d.c.commission, d.c.rest_to, d.c.deposit_amount
        )
        .where(_in_page(d.c.id, page), d.c.status == "closed")
        .order_by(d.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


# -- collection -----------------------------------------------------------------------------


def collection_attempts_disagreeing(conn: Connection, page: Page) -> list[dict[str, Any]]:
    """Finished or captured attempts whose transfers (or pay-in) say otherwise."""
    a, p = collection_attempts, collection_plans
    net, fee, landlord = (transfers.alias(n) for n in ("t_net", "t_fee", "t_ll"))
    payin = orders.alias("payin")
    wallet_moved = or_(net.c.id.is_not(None), fee.c.id.is_not(None))
    wallet_ok = or_(
        net.c.id.is_not(None), and_(p.c.amount == p.c.fee_amount, fee.c.id.is_not(None))
    )
    landlord_id = _derived("tr_col_", a.c.id, "_ll") + cast(a.c.settle_tries, String)
    source = (
        a.join(p, p.c.id == a.c.plan_id)
        .outerjoin(net, net.c.id == _derived("tr_col_", a.c.id, "_net"))
        .outerjoin(fee, fee.c.id == _derived("tr_col_", a.c.id, "_fee"))
        .outerjoin(landlord, landlord.c.id == landlord_id)
        .outerjoin(payin, payin.c.id == a.c.payin_id)
    )
    wallet, channel = a.c.method == "wallet", a.c.method == "channel"
    net_due = p.c.amount - p.c.fee_amount
    wallet_amount_differs = or_(
        func.coalesce(net.c.amount, 0) != net_due, func.coalesce(fee.c.amount, 0) != p.c.fee_amount
    )
    query = (
        select(
            a.c.id,
            a.c.method,
            a.c.status,
            a.c.payin_id,
            landlord_id.label("landlord_id"),
            func.coalesce(payin.c.status, MISSING).label("payin_status"),
            net_due.label("net_due"),
            p.c.fee_amount,
            net.c.amount.label("net_amount"),
            fee.c.amount.label("fee_taken"),
            landlord.c.amount.label("landlord_amount"),
        )
        .select_from(source)
        .where(
            _in_page(a.c.id, page),
            or_(
                and_(wallet, a.c.status == "succeeded", ~wallet_ok),
                and_(wallet, a.c.status == "failed", wallet_moved),
                and_(channel, a.c.status == "succeeded", landlord.c.id.is_(None)),
                and_(channel, a.c.status == "failed", landlord.c.id.is_not(None)),
                and_(wallet, a.c.status == "succeeded", wallet_ok, wallet_amount_differs),
                and_(channel, a.c.status == "succeeded", landlord.c.amount != net_due),
                and_(
                    channel,
                    a.c.status.in_(["captured", "succeeded"]),
                    func.coalesce(payin.c.status, MISSING) != "succeeded",
                ),
            ),
        )
        .order_by(a.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


# -- rewards --------------------------------------------------------------------------------


def reward_rows_disagreeing(conn: Connection, *, limit: int) -> list[dict[str, Any]]:
    """Paid rows without their posted transfer (for their amount), failed rows with one.
    One statement: the table's key is composite, and the filter leaves few rows."""
    r, t = reward_rows, transfers
    query = (
        select(
            r.c.merchant_id,
            r.c.batch_id,
            r.c.position,
            r.c.status,
            r.c.amount,
            r.c.transfer_id,
            t.c.amount.label("transfer_amount"),
        )
        .select_from(r.outerjoin(t, t.c.id == r.c.transfer_id))
        .where(
            or_(
                and_(r.c.status == "paid", or_(t.c.id.is_(None), t.c.amount != r.c.amount)),
                and_(r.c.status == "failed", t.c.id.is_not(None)),
            )
        )
        .order_by(r.c.merchant_id, r.c.batch_id, r.c.position)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
