"""The statements of an import and what their balances say, judged as they are stored.

Two breaks come from balances, not from matching, so they are recorded by the import (in
its transaction; `run_id` holds the import's id):

- `statement_unbalanced`: opening + booked credits - booked debits is not the closing
  balance. The file still imports: its lines are the bank's record of what moved, and a
  refusal would hold back every other statement of the file for a difference that only
  the bank can explain. The break names the difference.
- `balance_discontinuity`: a statement opens at another amount than the previous
  statement of the same account (and currency) closed at; checked both ways, so a day
  imported late is held against the day after it as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from paycore.money import format_minor
from paycore.recon.model import StatementBalance
from paycore.recon.store import breaks, statements

UNBALANCED = "statement_unbalanced"
DISCONTINUITY = "balance_discontinuity"


def record(
    conn: Connection,
    *,
    import_id: str,
    source: str,
    balances: Sequence[StatementBalance],
    fallback_date: date,
    now: datetime,
) -> int:
    """Store the import's statements; return how many breaks their balances made."""
    found = 0
    for seq, balance in enumerate(balances, start=1):
        conn.execute(
            statements.insert(),
            {
                "import_id": import_id,
                "seq": seq,
                "source": source,
                "statement_id": balance.statement_id[:128],
                "account": balance.account[:64],
                "currency": balance.currency,
                "business_date": balance.business_date,
                "opening": balance.opening,
                "closing": balance.closing,
                "credits": balance.credits,
                "debits": balance.debits,
            },
        )
        base: dict[str, Any] = {
            "source": source,
            "business_date": balance.business_date or fallback_date,
            "import_id": import_id,
            "currency": balance.currency,
            "run_id": import_id,
            "now": now,
        }
        difference = balance.difference
        if difference:
            found += _add_break(
                conn,
                key=f"{UNBALANCED}:{import_id}:{seq}",
                type_=UNBALANCED,
                stated=balance.closing,
                computed=None if balance.closing is None else balance.closing - difference,
                detail=_unbalanced_detail(balance, difference),
                **base,
            )
        found += _continuity(conn, import_id=import_id, seq=seq, balance=balance, base=base)
    return found


def _continuity(
    conn: Connection, *, import_id: str, seq: int, balance: StatementBalance, base: dict[str, Any]
) -> int:
    """This statement against the one before it and the one after it (imported earlier)."""
    if balance.business_date is None:
        return 0
    this: dict[str, Any] = {
        "import_id": import_id,
        "seq": seq,
        "statement_id": balance.statement_id,
        "business_date": balance.business_date,
        "opening": balance.opening,
        "closing": balance.closing,
    }
    found = 0
    before = _neighbour(conn, balance, later=False)
    after = _neighbour(conn, balance, later=True)
    pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = [
        (before, this),
        (this, after),
    ]
    for earlier, later in pairs:
        if earlier is None or later is None:
            continue
        opening, closing = later["opening"], earlier["closing"]
        if opening is None or closing is None or opening == closing:
            continue
        found += _add_break(
            conn,
            key=f"{DISCONTINUITY}:{later['import_id']}:{later['seq']}",
            type_=DISCONTINUITY,
            stated=opening,
            computed=closing,
            detail=_gap_detail(later["statement_id"], opening, earlier, balance),
            **{**base, "import_id": later["import_id"], "business_date": later["business_date"]},
        )
    return found


def _neighbour(
    conn: Connection, balance: StatementBalance, *, later: bool
) -> dict[str, Any] | None:
    """The statement of the same account and currency just before (or after) this one's
    day; a statement of the same day (sent again) is neither."""
    day = statements.c.business_date
    query = (
        select(statements)
        .where(
            statements.c.account == balance.account[:64],
            statements.c.currency == balance.currency,
            day > balance.business_date if later else day < balance.business_date,
        )
        .order_by(day.asc() if later else day.desc(), statements.c.import_id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def _add_break(
    conn: Connection,
    *,
    key: str,
    type_: str,
    stated: int | None,
    computed: int | None,
    detail: str,
    source: str,
    business_date: date,
    import_id: str,
    currency: str,
    run_id: str,
    now: datetime,
) -> int:
    row = {
        "dedup_key": key,
        "type": type_,
        "status": "open",
        "source": source,
        "business_date": business_date,
        "import_id": import_id,
        "currency": currency,
        "line_amount": stated,  # what the statement states
        "order_amount": computed,  # what it should state
        "run_id": run_id,
        "adjustment_attempts": 0,
        "detail": detail[:500],
        "created_at": now,
        "updated_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(breaks).values(row).on_conflict_do_nothing(index_elements=["dedup_key"])
    return conn.execute(insert).rowcount or 0


def _money(amount: int | None, currency: str) -> str:
    return "none" if amount is None else format_minor(amount, currency)


def _unbalanced_detail(balance: StatementBalance, difference: int) -> str:
    c = balance.currency
    return (
        f"statement {balance.statement_id} (line {balance.line}): opening "
        f"{_money(balance.opening, c)} + credits {_money(balance.credits, c)} - debits "
        f"{_money(balance.debits, c)} make {_money((balance.closing or 0) - difference, c)}, "
        f"the closing balance says {_money(balance.closing, c)}: a difference of "
        f"{_money(difference, c)}"
    )


def _gap_detail(
    statement_id: str, opening: int, before: dict[str, Any], balance: StatementBalance
) -> str:
    c = balance.currency
    return (
        f"statement {statement_id} of account {balance.account} opens at {_money(opening, c)}, "
        f"the statement before it ({before['statement_id']}) closed at "
        f"{_money(before['closing'], c)}: a difference of {_money(opening - before['closing'], c)}"
    )
