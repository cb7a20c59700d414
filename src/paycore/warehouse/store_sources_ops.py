"""The warehouse's reads of reconciliation, custody, split and collection (the ledger's and
payments' are in store_sources.py, with the shared window and streaming)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, func, literal, or_, select

from paycore.collection import store as collection_store
from paycore.custody.store import receipts
from paycore.recon import store as recon_store
from paycore.recon.store_matching import CATCH_UP_DAYS_MAX
from paycore.split.store import splits
from paycore.warehouse.store_sources import Rows, Window, changed_in, latest_token, stream
from paycore.warehouse.tokens import AccountToken

# -- reconciliation -------------------------------------------------------------------------


def recon_line_days(conn: Connection, window: Window) -> list[date]:
    """The business days whose lines changed in the window: those of the statements
    imported in it, and those a reconciliation run in it matched (a run of day D matches
    the lines of D, and of the days before it that earlier runs skipped). Lines have no
    updated-at of their own: these days are re-read whole."""
    line, imported = recon_store.lines.c, recon_store.imports.c
    days = set(
        conn.execute(
            select(line.business_date)
            .select_from(recon_store.lines.join(recon_store.imports, imported.id == line.import_id))
            .where(changed_in(imported.imported_at, window))
            .distinct()
        ).scalars()
    )
    run = recon_store.runs.c
    finished = conn.execute(
        select(run.source, run.business_date, run.judged_through, run.started_at).where(
            changed_in(func.coalesce(run.finished_at, run.started_at), window)
        )
    ).all()
    for source, day, judged_through, started_at in finished:
        earlier = conn.execute(
            select(func.max(run.judged_through)).where(
                run.source == source, run.started_at < started_at
            )
        ).scalar()
        days.update(_run_days(day, judged_through, earlier))
    return sorted(days)


def _run_days(day: date, judged_through: date, earlier: date | None) -> list[date]:
    """The line days one run covered (recon store_matching.span_of, from its record)."""
    judged_from = judged_through
    if earlier is not None and earlier < judged_through:
        oldest = judged_through - timedelta(days=CATCH_UP_DAYS_MAX - 1)
        judged_from = max(earlier + timedelta(days=1), oldest)
    first = judged_from + (day - judged_through)
    return [first + timedelta(days=n) for n in range((day - first).days + 1)]


def recon_lines(
    conn: Connection, days: list[date], batch: int, account_token: AccountToken | None
) -> Iterator[Rows]:
    """Every line of the days, whole. The line's account is read sealed and always
    replaced, before the row goes on, by its blind token (None without a tokenizer)."""
    line = recon_store.lines.c
    query = select(
        line.import_id,
        line.line_no,
        line.source,
        line.business_date,
        line.source_ref,
        line.kind,
        line.direction,
        line.amount,
        line.currency,
        line.fee,
        line.status,
        line.channel_txn_id,
        line.reference,
        line.booked_at,
        line.duplicate,
        line.order_id,
        line.matched_by,
        line.account_enc,  # sealed: replaced below, never exported
        line.bank_kind,
        line.counter_amount,
        line.counter_currency,
    )
    for day in days:
        for page in stream(conn, query.where(line.business_date == day), batch):
            yield [(*row[:17], _token_of(row, account_token), *row[18:]) for row in page]


def _token_of(row: Any, account_token: AccountToken | None) -> str | None:
    sealed = row[17]
    if sealed is None or account_token is None:
        return None
    return account_token(str(row[0]), int(row[1]), str(sealed))


def recon_breaks(conn: Connection, window: Window, batch: int) -> Iterator[Rows]:
    b = recon_store.breaks.c
    query = select(
        b.id,
        b.type,
        b.status,
        b.source,
        b.business_date,
        b.import_id,
        b.line_no,
        b.order_id,
        b.currency,
        b.line_amount,
        b.order_amount,
        b.line_status,
        b.order_status,
        b.line_fee,
        b.order_fee,
        b.direction,
        b.suspense_transfer_id,
        b.adjustment_transfer_id,
        b.created_at,
        b.updated_at,
    ).where(changed_in(b.updated_at, window))
    yield from stream(conn, query, batch)


# -- custody, split, collection -------------------------------------------------------------


def custody_receipts(conn: Connection, window: Window, batch: int) -> Iterator[Rows]:
    r = receipts.c
    query = select(
        r.id,
        r.bank,
        r.merchant_id,
        r.owner,
        r.amount,
        r.currency,
        r.received_at,
        r.business_date,
        r.status,
        r.origin,
        r.deal_id,
        r.refund_id,
        latest_token("account_number", literal("custody_receipt"), r.id),
        r.updated_at,
    ).where(changed_in(r.updated_at, window))
    yield from stream(conn, query, batch)


def split_splits(conn: Connection, window: Window, batch: int) -> Iterator[Rows]:
    s = splits.c
    query = select(
        s.id,
        s.merchant_id,
        s.payin_id,
        s.rule_id,
        s.product,
        s.currency,
        s.mode,
        s.payin_amount,
        s.base,
        s.refunded,
        s.status,
        s.legs,
        s.created_at,
        s.updated_at,
    ).where(changed_in(s.updated_at, window))
    for page in stream(conn, query, batch):
        yield [(*row[:11], _legs_json(row[11]), *row[12:]) for row in page]


def _legs_json(legs: Any) -> str:
    # Sorted keys: the same legs are the same bytes, so an unchanged split rewrites nothing.
    return json.dumps(legs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def collection_attempts(conn: Connection, window: Window, batch: int) -> Iterator[Rows]:
    """Attempts started or finished in the window, with their plan's merchant and amount
    and their period's due date."""
    a = collection_store.attempts.c
    plan, period = collection_store.plans.c, collection_store.periods.c
    query = (
        select(
            a.id,
            a.plan_id,
            plan.merchant_id,
            a.period_no,
            a.attempt_no,
            a.method,
            a.status,
            a.payin_id,
            a.failure_code,
            plan.amount,
            plan.currency,
            period.due_date,
            a.started_at,
            a.finished_at,
        )
        .select_from(
            collection_store.attempts.join(collection_store.plans, plan.id == a.plan_id).outerjoin(
                collection_store.periods,
                (period.plan_id == a.plan_id) & (period.period_no == a.period_no),
            )
        )
        .where(or_(changed_in(a.started_at, window), changed_in(a.finished_at, window)))
    )
    yield from stream(conn, query, batch)
