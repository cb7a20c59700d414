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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from paycore.clock import Clock
from paycore.collection.store import attempts as collection_attempts
from paycore.consistency import model, store
from paycore.consistency.model import Disagreement
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
            with self._snapshot() as conn, conn.begin():
                step(conn, report, now)
        if not report.ok:
            log.error(
                "flow check: %d disagreements with the ledger, first: %s",
                report.found,
                report.disagreements[0],
            )
        return report

    def _snapshot(self) -> Connection:
        """A connection whose every statement sees the same moment: a record read by one
        statement and its transfers by the next must not straddle a flow's step. SQLite's
        read transaction is a snapshot already; PostgreSQL needs REPEATABLE READ."""
        conn = self._engine.connect()
        if self._engine.dialect.name == "postgresql":
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        return conn


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
            )
            report.add(model.hold_disagreement(facts, now=now))
        for row in store.payin_settlements(conn, page):
            facts_in = model.PayinFacts(
                order_id=row["id"],
                status=row["status"],
                net_amount=row["net_amount"],
                settled_at=row["settled_at"],
            )
            report.add(model.payin_disagreement(facts_in, now=now))


def _split(conn: Connection, report: FlowReport, _now: datetime) -> None:
    for page in store.pages(conn, splits.c.id):
        rows = store.splits_at_rest(conn, page)
        legs = [(row["id"], leg) for row in rows for leg in row["legs"]]
        found = store.transfer_statuses(conn, [leg["transfer_id"] for _, leg in legs])
        for split_id, leg in legs:
            status, _at = found.get(leg["transfer_id"], (model.MISSING, None))
            report.add(
                model.split_leg_disagreement(
                    split_id=split_id,
                    leg_key=leg["key"],
                    leg_state=leg["state"],
                    transfer_id=leg["transfer_id"],
                    transfer_status=status,
                )
            )


def _landing_ids(receipt_id: str, move_attempt: int) -> list[str]:
    """Every id a receipt's move into custody may have had (a refused id is never reused,
    so each retry took the next attempt number)."""
    return [f"tr_cus_{receipt_id}_in{n}" for n in range(move_attempt + 1)]


def _custody(conn: Connection, report: FlowReport, now: datetime) -> None:
    for page in store.pages(conn, custody_receipts.c.id):
        rows = store.custody_receipts_page(conn, page)
        ids = [tid for row in rows for tid in _landing_ids(row["id"], row["move_attempt"])]
        found = store.transfer_statuses(conn, ids)
        for row in rows:
            report.add(_receipt_disagreement(row, found, now))


def _receipt_disagreement(
    row: dict[str, Any], found: dict[str, tuple[str, Any]], now: datetime
) -> Disagreement | None:
    ids = _landing_ids(row["id"], row["move_attempt"])
    landed = [tid for tid in ids if tid in found]
    if row["status"] == "landing":
        if not landed:
            return None
        _status, at = found[landed[-1]]
        if now - at < timedelta(seconds=model.IN_FLIGHT_GRACE_S):
            return None  # the receipt's own update follows its transfer
        return Disagreement(
            model.SINGLE_CODES["custody_landing"], row["id"], landed[-1],
            "receipt is landing, yet its money is already in custody",
        )  # fmt: skip
    if landed:
        return None
    return Disagreement(
        model.SINGLE_CODES["custody_landed"], row["id"], ids[-1],
        f"receipt is {row['status']}, yet no move into custody exists",
    )  # fmt: skip


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
