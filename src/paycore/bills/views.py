"""Statements as JSON: every figure in minor units, every line with the link to the
transfers behind it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from paycore.bills.model import AccountStatement, Balances, Movement, Statement


def statement_view(statement: Statement) -> dict[str, Any]:
    period = statement.period
    return {
        "merchant_id": statement.merchant_id,
        "owner_id": statement.owner_id,
        "period": {
            "label": period.label,
            "kind": "month" if period.is_month else "day",
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        },
        "as_of": statement.as_of.isoformat(),
        "sealed_hash": statement.sealed_hash,
        "accounts": [_account(statement, a) for a in statement.accounts],
        "extras": _plain(statement.extras),
    }


def _account(statement: Statement, a: AccountStatement) -> dict[str, Any]:
    return {
        "account_id": a.account_id,
        "owner_id": a.owner_id,
        "code": a.code,
        "currency": a.currency,
        "debit_normal": a.debit_normal,
        "opening": a.opening.posted(a.debit_normal),
        "opening_balances": _balances(a.opening),
        "adjustment": a.adjustment,
        "movements": [_movement(statement, m) for m in a.movements],
        "closing": a.closing.posted(a.debit_normal),
        "closing_balances": _balances(a.closing),
        "on_hold": a.closing.on_hold(),
        "difference": a.difference(),
    }


def _movement(statement: Statement, m: Movement) -> dict[str, Any]:
    return {
        "category": m.category.value,
        "product": m.product,
        "channel": m.channel,
        "amount_in": m.amount_in,
        "amount_out": m.amount_out,
        "net": m.net,
        "count": m.count,
        "filter": m.line_filter(statement.period.label),
        "transfers": line_link(statement, m),
    }


def line_link(statement: Statement, m: Movement) -> str:
    """The route that lists the transfers behind the line (its stable filter)."""
    path = (
        f"/v1/bills/{quote(statement.merchant_id, safe='')}/statements/"
        f"{statement.period.label}/lines/{quote(m.account_id, safe='')}/{m.category.value}"
    )
    query = {k: v for k, v in (("product", m.product), ("channel", m.channel)) if v}
    return f"{path}?{urlencode(query)}" if query else path


def _balances(b: Balances) -> dict[str, int]:
    return {
        "debits_pending": b.debits_pending,
        "debits_posted": b.debits_posted,
        "credits_pending": b.credits_pending,
        "credits_posted": b.credits_posted,
    }


def _plain(value: Any) -> Any:
    """Datetimes as ISO text, recursively."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def plain(value: Any) -> Any:
    return _plain(value)
