"""Hand-made warehouses for the rule tests: a few pay-ins, refunds and transfers written as
Parquet in the contract's schemas and layout, at Asia/Shanghai local times."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from paycore.warehouse.schemas import (
    LEDGER_TRANSFERS,
    PAYMENT_ORDERS,
    SCHEMA_VERSION_KEY,
    WAREHOUSE_ZONE,
    WarehouseTable,
)

DAY0 = datetime(2025, 8, 4, 12, 0)  # a Monday, local time
_ids = itertools.count(1)


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    """Local (Asia/Shanghai) time `day` days after DAY0's midnight."""
    return DAY0.replace(hour=0) + timedelta(days=day, hours=hour, minutes=minute)


def token(kind: str, key: str) -> str:
    return f"k1:{kind}-{key}"


@dataclass
class Warehouse:
    orders: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)

    def payin(
        self, merchant: str, amount: int, when: datetime, *, payer: str, card: str | None = None
    ) -> str:
        order_id = f"pay_{next(_ids)}"
        self.orders.append(
            _order(order_id, "payin", merchant, amount, when)
            | {
                "party_id_token": token("id", payer),
                "party_card_token": token("card", card or f"{payer}-0"),
            }
        )
        self.transfer(None, merchant, amount, when, transfer_id=f"tr_{order_id}_cap", code=1)
        return order_id

    def refund(self, payin_id: str, when: datetime, *, card: str) -> str:
        parent = next(o for o in self.orders if o["id"] == payin_id)
        refund_id = f"rf_{next(_ids)}"
        self.orders.append(
            _order(refund_id, "refund", parent["merchant_id"], parent["amount"], when)
            | {"parent_id": payin_id, "party_card_token": token("card", card)}
        )
        self.transfer(parent["merchant_id"], None, parent["amount"], when, code=5)
        return refund_id

    def transfer(
        self,
        src: str | None,
        dst: str | None,
        amount: int,
        when: datetime,
        *,
        transfer_id: str | None = None,
        code: int = 40,
    ) -> str:
        tid = transfer_id or f"tr_{next(_ids)}"
        self.transfers.append(
            {
                "id": tid,
                "debit_account_id": f"acct_{src or 'clearing'}",
                "credit_account_id": f"acct_{dst or 'transit'}",
                "debit_owner_id": src,
                "credit_owner_id": dst,
                "debit_code": 2001 if src else 1101,
                "credit_code": 2001 if dst else 2101,
                "amount": amount,
                "currency": "CNY",
                "code": code,
                "flags": 0,
                "pending_id": None,
                "status": "posted",
                "created_at": _utc(when),
                "last_seq": len(self.transfers) + 1,
            }
        )
        return tid

    def write(self, root: Path) -> Path:
        _write(root, PAYMENT_ORDERS, self.orders)
        _write(root, LEDGER_TRANSFERS, self.transfers)
        return root


def _utc(local: datetime) -> datetime:
    return local.replace(tzinfo=WAREHOUSE_ZONE)


def _order(order_id: str, kind: str, merchant: str, amount: int, when: datetime) -> dict[str, Any]:
    return {
        "id": order_id,
        "kind": kind,
        "merchant_id": merchant,
        "product": "checkout",
        "amount": amount,
        "currency": "CNY",
        "fee_amount": 0,
        "status": "succeeded",
        "refunded_amount": 0,
        "created_at": _utc(when),
        "updated_at": _utc(when),
    }


def _write(root: Path, table: WarehouseTable, rows: list[dict[str, Any]]) -> None:
    by_day: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        day = row["created_at"].astimezone(WAREHOUSE_ZONE).date().isoformat()
        by_day.setdefault(day, []).append(row)
    for day, day_rows in by_day.items():
        columns = {f.name: [r.get(f.name) for r in day_rows] for f in table.schema}
        data = pa.table(columns, schema=table.schema).replace_schema_metadata(
            {SCHEMA_VERSION_KEY: str(table.version).encode()}
        )
        target = root / table.name / f"dt={day}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, target / "part-0.parquet")
