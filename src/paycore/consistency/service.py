"""The flow check: does every flow's record agree with the ledger?

The ledger's own check proves balances match the journal; it cannot see a journal that
contradicts an order (a payout still `processing` whose hold was voided behind its back
pays twice). This walks each slice's records next to the transfers they derive, with the
rules of `model.py`, and names every disagreement with a stable code. It only reads: per
slice, one read-only snapshot, page by page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from paycore.clock import Clock
from paycore.collection.store import attempts as collection_attempts
from paycore.consistency import model, store
from paycore.consistency.model import Disagreement
from paycore.custody.store import deals as custody_deals
from paycore.custody.store import receipts as custody_receipts
from paycore.payments.store import orders
from paycore.split.store import splits

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FlowReport:
    disagreements: list[Disagreement] = field(default_factory=list)  # the first KEPT
    found: int = 0  # all of them, also those not kept

    @property
    def ok(self) -> bool:
        return self.found == 0

    def add(self, disagreement: Disagreement | None) -> None:
        if disagreement is None:
            return
        self.found += 1
        if len(self.disagreements) < model.DISAGREEMENTS_KEPT:
            self.disagreements.append(disagreement)


class FlowCheck:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def __call__(self) -> list[Disagreement]:
        """The disagreements kept, for the ledger's self-check to record with its own."""
        return self.run().disagreements

    def run(self) -> FlowReport:
        report = FlowReport()
        now = self._clock.now()
        steps: tuple[Callable[[Connection, FlowReport, datetime], None], ...] = (
            _payments, _split, _custody, _collection, _rewards,
        )  # fmt: skip
        for step in steps:
            with store.snapshot(self._engine) as conn, conn.begin():
                step(conn, report, now)
        if not report.ok:
            log.error(
                "flow check: %d disagreements with the ledger, first: %s",
                report.found,
                report.disagreements[0],
            )
        return report


def _payments(conn: Connection, report: FlowReport, now: datetime) -> None:
    for page in store.pages(conn, orders.c.id):
        for row in store.payment_holds(conn, page):
            legs = {
                leg: row[f"{leg}_at"]
                for leg in ("post", "void", "out", "ret")
                if row[f"{leg}_at"] is not None
            }
            facts = model.HoldFacts(
                order_id=row["id"],
                kind=row["kind"],
                status=row["status"],
                updated_at=row["updated_at"],
                hold_status=row["hold_status"],
                legs=legs,
                amount=row["amount"],
                leg_amounts={
                    leg: row[f"{leg}_amount"]
                    for leg in ("hold", "post", "out", "ret")
                    if row[f"{leg}_amount"] is not None
                },
            )
            report.add(model.hold_disagreement(facts, now=now))
        for row in store.payin_settlements(conn, page):
            facts_in = model.PayinFacts(
                order_id=row["id"],
                status=row["status"],
                net_amount=row["net_amount"],
                settled_at=row["settled_at"],
                fee_amount=row["fee_amount"],
                captured=row["captured"],
                fee_taken=row["fee_taken"],
            )
            report.add(model.payin_disagreement(facts_in, now=now))


def _split(conn: Connection, report: FlowReport, _now: datetime) -> None:
    for page in store.pages(conn, splits.c.id):
        rows = store.splits_at_rest(conn, page)
        legs = [(row["id"], leg) for row in rows for leg in row["legs"]]
        found = store.transfer_statuses(conn, [leg["transfer_id"] for _, leg in legs])
        for split_id, leg in legs:
            seen = found.get(leg["transfer_id"])
            report.add(
                model.split_leg_disagreement(
                    split_id=split_id,
                    leg=leg,
                    transfer_status=seen[0] if seen else model.MISSING,
                    transfer_amount=seen[2] if seen else None,
                )
            )


def _custody(conn: Connection, report: FlowReport, now: datetime) -> None:
    for page in store.pages(conn, custody_receipts.c.id):
        rows = store.custody_receipts_page(conn, page)
        ids = [
            tid
            for row in rows
            for kind in ("in", "back", "ret")
            for tid in model.receipt_ids(row["id"], kind, row["move_attempt"])
        ]
        found = store.transfer_statuses(conn, ids)
        for row in rows:
            for disagreement in model.receipt_disagreements(row, found, now=now):
                report.add(disagreement)
    for page in store.pages(conn, custody_deals.c.id):
        deals = store.closed_deals_page(conn, page)
        legs = [model.deal_transfer_id(d, leg) for d in deals for leg in model.deal_legs(d)]
        found = store.transfer_statuses(conn, legs)
        for deal in deals:
            report.add(model.deal_disagreement(deal, found))


def _collection(conn: Connection, report: FlowReport, _now: datetime) -> None:
    for page in store.pages(conn, collection_attempts.c.id):
        for row in store.collection_attempts_disagreeing(conn, page):
            report.add(_attempt_disagreement(row))


def _attempt_disagreement(row: dict[str, Any]) -> Disagreement:
    attempt_id, status = row["id"], row["status"]
    if row["method"] == "channel" and row["payin_status"] != "succeeded":
        return Disagreement(
            model.SINGLE_CODES["collection_captured"], attempt_id, f"tr_{row['payin_id']}_cap",
            f"attempt is {status}, its pay-in {row['payin_id']} is {row['payin_status']}",
        )  # fmt: skip
    transfer_id = row["landlord_id"] if row["method"] == "channel" else f"tr_col_{attempt_id}_net"
    if row["method"] == "channel":
        moved, posted = row["landlord_amount"], row["landlord_amount"] is not None
    else:  # the fee may take it all: then only the fee leg exists
        moved = row["net_amount"] or 0
        posted = row["net_amount"] is not None or (
            row["net_due"] == 0 and row["fee_taken"] is not None
        )
    if status == "succeeded" and posted:  # then its amounts are what differs
        return Disagreement(
            "collection_amount_differs", attempt_id, transfer_id,
            f"attempt is for {row['net_due']} net + {row['fee_amount']} fee, the ledger "
            f"moved {moved} + {row['fee_taken'] or 0}",
        )  # fmt: skip
    if status == "succeeded":
        return Disagreement(
            model.SINGLE_CODES["collection_succeeded"], attempt_id, transfer_id,
            "attempt succeeded, its transfer is missing",
        )  # fmt: skip
    return Disagreement(
        model.SINGLE_CODES["collection_failed"], attempt_id, transfer_id,
        "attempt failed, yet its transfer was posted",
    )  # fmt: skip


def _rewards(conn: Connection, report: FlowReport, _now: datetime) -> None:
    for row in store.reward_rows_disagreeing(conn, limit=model.DISAGREEMENTS_KEPT + 1):
        subject = f"{row['merchant_id']}/{row['batch_id']}#{row['position']}"
        if row["status"] == "paid":
            detail = (
                "row is paid, its transfer is missing"
                if row["transfer_amount"] is None
                else f"row is paid {row['amount']}, its transfer moved {row['transfer_amount']}"
            )
            code = model.SINGLE_CODES["reward_paid"]
        else:
            detail, code = (
                "row failed, yet its transfer was posted",
                model.SINGLE_CODES["reward_failed"],
            )
        report.add(Disagreement(code, subject, row["transfer_id"] or "-", detail))
