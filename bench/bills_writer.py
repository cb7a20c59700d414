"""The bills benchmark's writer: chains through the ledger's own posting rules, written in
groups with the writer's own SQL (see bills_data.py), with their orders beside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from paycore.ledger import store_writer
from paycore.ledger.model import AccountState, Transfer
from paycore.ledger.model import TransferRequest as Tr
from paycore.ledger.posting import Posting

WRITE_ENTRIES = 20_000
"""Entries per written group: large enough for COPY to pay, small enough to stay flat."""
_ORDER_COLUMNS = (
    "id, kind, merchant_id, merchant_reference, product, amount, currency, fee_amount, status, "
    "result_unknown, channel, channel_txn_id, failure_class, failure_code, failure_message, "
    "parent_id, refunded_amount, party_enc, party_masked, details_enc, expires_at, "
    "created_at, updated_at, finished_at, next_query_at, query_attempts, version"
)


@dataclass
class Generated:
    entries: int = 0
    transfers: int = 0
    orders: int = 0
    refused: int = 0  # chains the ledger refused (should stay 0: the data is planned)
    seconds: float = 0.0
    cpu_s: float = 0.0
    payins: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class Writer:
    """Applies chains in time order and writes them in groups, with their orders."""

    def __init__(self, engine: Engine, states: dict[str, AccountState]) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.states = states
        self.live: dict[str, Transfer] = {}
        self.posting = self._new_posting()
        self.orders: list[tuple[Any, ...]] = []
        self.out = Generated()

    def _new_posting(self) -> Posting:
        return Posting(self.states, dict(self.live), {}, datetime(2000, 1, 1, tzinfo=UTC))

    def apply(self, at: datetime, chain: list[Tr]) -> bool:
        self.posting.now = at
        results = self.posting.apply(chain)
        if any(r != "created" for r in results):
            self.out.refused += 1
            return False
        return True

    def order(self, row: tuple[Any, ...]) -> None:
        self.orders.append(row)

    def flush_if_full(self) -> None:
        if len(self.posting.entries) >= WRITE_ENTRIES:
            self.flush()

    def flush(self) -> None:
        posting = self.posting
        with self.engine.begin() as conn:
            if self.postgres:
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            store_writer.write_posting(conn, posting)
            self._write_orders(conn)
        self.out.entries += len(posting.entries)
        self.out.transfers += len(posting.created)
        self.out.orders += len(self.orders)
        self.orders = []
        self.live = {k: t for k, t in posting.transfers.items() if t.status.value == "pending"}
        self.posting = self._new_posting()

    def _write_orders(self, conn: Connection) -> None:
        if not self.orders:
            return
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if self.postgres:
            with cursor.copy(f"COPY payment_orders ({_ORDER_COLUMNS}) FROM STDIN") as copy:
                for row in self.orders:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(_ORDER_COLUMNS.split(",")))
        rows = [tuple(_sqlite(v) for v in row) for row in self.orders]
        try:
            cursor.executemany(
                f"INSERT INTO payment_orders ({_ORDER_COLUMNS}) VALUES ({marks})", rows
            )
        finally:
            cursor.close()


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"
    if isinstance(value, bool):
        return int(value)
    return value
