"""An incident's impact, measured from the data over its window: the orders it touched
(failed through a channel or paycore, or left without a result), their merchants and
amounts, its share of the window's traffic, and money mis-moved, as told by the ledger
self-check that ran in the window (balances, and the cross-slice flows it runs) and by the
finance days reconciled in it with vouchers missing.

A finance day reconciled in the window with breaks (finance/reconcile.py) counts as a
failed check. Its amounts: each voucher the finance system is missing (its debit total),
and per currency the larger of the debit and credit gaps of its amount mismatches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from paycore.ops import store_impact
from paycore.ops.model import Impact

PPM = 1_000_000
MISSING = "missing_at_receiver"
MISMATCH = "amount_mismatch"


class ImpactMeter:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def measure(
        self,
        *,
        start: datetime,
        end: datetime,
        products: Sequence[str] = (),
        channels: Sequence[str] = (),
        kinds: Sequence[str] = (),
    ) -> Impact:
        """The impact of a window on the given products, channels and order kinds (all
        when empty)."""
        with self._engine.connect() as conn:
            touched = store_impact.orders_touched(
                conn, start=start, end=end, products=products, channels=channels, kinds=kinds
            )
            check = store_impact.last_check_run(conn, start=start, end=end)
            days = [d for d in store_impact.finance_breaks(conn, start=start, end=end) if d]
            missing = [b.get("voucher_id", "") for d in days for b in d if _kind(b) == MISSING]
            voucher_amounts = store_impact.voucher_amounts(conn, missing)
        mismoved: dict[str, int] = {}
        failed = len(days)
        if check is not None and not check["ok"]:
            failed += 1
            _add(mismoved, imbalances(check["totals"]))
        for currency, amount in voucher_amounts.values():
            _add(mismoved, {currency: amount})
        _add(mismoved, mismatch_gaps([b for d in days for b in d if _kind(b) == MISMATCH]))
        return Impact(
            orders=touched.orders,
            merchants=touched.merchants,
            amount_minor=dict(sorted(touched.amount_minor.items())),
            money_mismoved_minor=dict(sorted(mismoved.items())),
            traffic_share_ppm=touched.orders * PPM // touched.all_orders
            if touched.all_orders
            else 0,
            duration_s=max(0, int((end - start).total_seconds())),
            products=tuple(sorted({*products, *touched.products})),
            channels=tuple(sorted({*channels, *touched.channels})),
            kinds=tuple(sorted(kinds)),
            checks_failed=failed,
        )


def imbalances(totals: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """Per currency, what the summed balances leave unbalanced (debits against credits,
    pending and posted): zero in a ledger where no money appeared or vanished."""
    found: dict[str, int] = {}
    for currency, sums in totals.items():
        debits_pending, debits_posted, credits_pending, credits_posted = (int(v) for v in sums)
        gap = abs(debits_pending - credits_pending) + abs(debits_posted - credits_posted)
        if gap:
            found[currency] = gap
    return found


def mismatch_gaps(breaks: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Per currency, what the vouchers book that the ledger does not (or the reverse): the
    larger of the summed debit gaps and the summed credit gaps (one wrong amount shows on a
    debit line and a credit line; it is counted once)."""
    debit: dict[str, int] = {}
    credit: dict[str, int] = {}
    for found in breaks:
        currency = str(found.get("currency", ""))
        gap = int(found.get("vouchers_debit_minor", 0)) - int(found.get("ledger_debit_minor", 0))
        debit[currency] = debit.get(currency, 0) + abs(gap)
        gap = int(found.get("vouchers_credit_minor", 0)) - int(found.get("ledger_credit_minor", 0))
        credit[currency] = credit.get(currency, 0) + abs(gap)
    gaps = {c: max(debit[c], credit[c]) for c in debit}
    return {c: gap for c, gap in gaps.items() if gap}


def _kind(found: Any) -> str:
    return str(found.get("kind", "")) if isinstance(found, Mapping) else ""


def _add(into: dict[str, int], more: Mapping[str, int]) -> None:
    for currency, amount in more.items():
        into[currency] = into.get(currency, 0) + amount


def impact_to_json(impact: Impact) -> dict[str, Any]:
    return {
        "orders": impact.orders,
        "merchants": impact.merchants,
        "amount_minor": dict(impact.amount_minor),
        "money_mismoved_minor": dict(impact.money_mismoved_minor),
        "traffic_share_ppm": impact.traffic_share_ppm,
        "duration_s": impact.duration_s,
        "products": list(impact.products),
        "channels": list(impact.channels),
        "kinds": list(impact.kinds),
        "checks_failed": impact.checks_failed,
    }


def impact_from_json(doc: Mapping[str, Any]) -> Impact:
    return Impact(
        orders=int(doc.get("orders", 0)),
        merchants=int(doc.get("merchants", 0)),
        amount_minor={k: int(v) for k, v in doc.get("amount_minor", {}).items()},
        money_mismoved_minor={k: int(v) for k, v in doc.get("money_mismoved_minor", {}).items()},
        traffic_share_ppm=int(doc.get("traffic_share_ppm", 0)),
        duration_s=int(doc.get("duration_s", 0)),
        products=tuple(doc.get("products", ())),
        channels=tuple(doc.get("channels", ())),
        kinds=tuple(doc.get("kinds", ())),
        checks_failed=int(doc.get("checks_failed", 0)),
    )
