"""Fixtures of the push tests (imported by name; tests/finance/conftest.py is the vouchers
tests'): a receiver in this process, a client to it, and pending vouchers to push.

    @pytest.fixture
    def harness(engine: Engine, clock: ManualClock, tmp_path: Path) -> Iterator[Harness]:
        yield from open_harness(engine, clock, tmp_path)
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from starlette.testclient import TestClient

from paycore.clock import ManualClock
from paycore.finance.model import Voucher, VoucherLine, voucher_body
from paycore.finance.push import FinancePush
from paycore.finance.receiver_client import FinanceReceiverClient
from paycore.finance.store import voucher_lines, vouchers
from paycore.sandbox_finance.api import create_finance_app
from paycore.sandbox_finance.keys import prepare_secret, read_secret
from paycore.sandbox_finance.service import FinanceReceiver, ReceiverConfig

BUSINESS_DATE = date(2026, 1, 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def voucher_document(
    index: int, *, day: date = BUSINESS_DATE, amount_minor: int = 0
) -> dict[str, Any]:
    """A balanced two-line voucher as derivation makes them (the model's body and hash),
    unique by `index`."""
    amount = amount_minor or 1000 + index
    voucher = Voucher(
        id=f"vch_{day:%Y%m%d}_t{index:04d}_CNY",
        business_date=day,
        voucher_type="payin",
        currency="CNY",
        summary=f"{day} pay-ins, batch {index}",
        lines=(VoucherLine(1, "1002", 100, amount, 0), VoucherLine(2, "2241", 200, 0, amount)),
        transfer_count=1,
    )
    return {**voucher_body(voucher), "body_hash": voucher.body_hash}


def insert_pending(engine: Engine, documents: list[dict[str, Any]], *, at: datetime) -> None:
    """Vouchers as derivation leaves them: pending, due now, never pushed."""
    rows, lines = [], []
    for document in documents:
        debit = sum(line["debit_minor"] for line in document["lines"])
        rows.append({
            "id": document["id"], "business_date": date.fromisoformat(document["business_date"]),
            "currency": document["currency"], "voucher_type": document["voucher_type"],
            "summary": document["summary"], "debit_total_minor": debit, "credit_total_minor": debit,
            "transfer_count": document["transfer_count"], "body_hash": document["body_hash"],
            "created_at": at,
            "push_status": "pending", "push_attempts": 0, "next_push_at": at, "lease_id": None,
            "leased_until": None, "pushed_at": None, "receiver_ref": None, "last_error": "",
        })  # fmt: skip
        lines += [{"voucher_id": document["id"], **line} for line in document["lines"]]
    with engine.begin() as conn:
        conn.execute(insert(vouchers), rows)
        conn.execute(insert(voucher_lines), lines)


@dataclass
class Harness:
    """A receiver served in this process (Starlette TestClient), and relays pushing to it."""

    engine: Engine
    clock: ManualClock
    data_dir: Path
    http: TestClient

    @property
    def receiver(self) -> FinanceReceiver:
        receiver: FinanceReceiver = self.http.app.state.receiver  # type: ignore[attr-defined]
        return receiver

    def client(self) -> FinanceReceiverClient:
        return FinanceReceiverClient(
            "http://testserver", secret=read_secret(self.data_dir), http=self.http
        )

    def relay(self, **kwargs: Any) -> FinancePush:
        return FinancePush(self.engine, self.client(), clock=self.clock, **kwargs)

    def faults(self, **changes: Any) -> None:
        self.http.put("/admin/faults", json=changes).raise_for_status()

    def receipts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = self.http.get("/admin/receipts").json()
        return counts

    def booked(self, day: date = BUSINESS_DATE) -> dict[str, str]:
        return self.client().booked(day)


def open_harness(engine: Engine, clock: ManualClock, tmp_path: Path) -> Iterator[Harness]:
    """For a test module's fixture: `yield from open_harness(engine, clock, tmp_path)`."""
    data_dir = tmp_path / "sandbox-finance"
    prepare_secret(data_dir)
    app = create_finance_app(ReceiverConfig(data_dir=data_dir, seed=7), clock=clock)
    with TestClient(app) as http:
        yield Harness(engine, clock, data_dir, http)
