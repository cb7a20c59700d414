"""The warehouse's tables: their Parquet schemas, versions, keys and partitions.

This is the contract between the export (which writes them), the reports (SQL files that
read them on DuckDB and on Spark) and AML (rules over them). Layout, Hive style:

    <warehouse root>/<table>/dt=YYYY-MM-DD/part-<...>.parquet

`dt` is a directory, never a column inside the files: both engines read it from the path
(DuckDB `hive_partitioning`, Spark's partition discovery). It is the business date in
Asia/Shanghai (the custody bank's zone, as bills use): a row's own `business_date` where
it has one, else the local date of its `dated_by` timestamp. Every file carries its
table's schema version in the Parquet key-value metadata (`paycore.schema_version`), and
`<table>/_schema.json` documents the current one (engines skip names starting with `_`).

Personal data never leaves as a value: numbers become blind-index tokens (HMAC-SHA256
under the blind key, the same `<key id>:<hex>` as security_blind_index) and names are
not exported at all. Free text a person typed (order descriptions, metadata, break
notes) is not exported either.

A change to a table's columns is a new version: add columns at the end (readers of the
old version still work), bump `version`, and say so in warehouse/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from zoneinfo import ZoneInfo

import pyarrow as pa

WAREHOUSE_ZONE = ZoneInfo("Asia/Shanghai")
SCHEMA_VERSION_KEY = b"paycore.schema_version"
PARTITION = "dt"

_TS = pa.timestamp("us", tz="UTC")
_MONEY = pa.int64()


class Mode(Enum):
    APPEND = "append"
    """Rows never change once written (the journal): each run adds new part files."""
    UPSERT = "upsert"
    """Rows change after they are written: a run rewrites the partitions (days) holding
    rows that changed since the watermark, whole, so a day's partition is always the
    latest state of every row of that day, once."""


@dataclass(frozen=True)
class WarehouseTable:
    name: str
    version: int
    schema: pa.Schema
    key: tuple[str, ...]
    mode: Mode
    dated_by: str
    """The column whose business date is the partition: a date column, or a UTC
    timestamp converted to Asia/Shanghai."""
    doc: str


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(name, kind, nullable=nullable) for name, kind, nullable in fields])


LEDGER_ENTRIES = WarehouseTable(
    "ledger_entries",
    1,
    _schema(
        ("seq", pa.int64(), False),
        ("transfer_id", pa.string(), False),
        ("account_id", pa.string(), False),
        ("account_code", pa.int32(), False),
        ("owner_id", pa.string(), True),
        ("currency", pa.string(), False),
        ("event", pa.string(), False),
        ("side", pa.string(), False),
        ("amount", _MONEY, False),
        ("created_at", _TS, False),
    ),
    key=("seq",),
    mode=Mode.APPEND,
    dated_by="created_at",
    doc="One row per journal entry (ledger_entries joined to its account's code and owner).",
)

LEDGER_TRANSFERS = WarehouseTable(
    "ledger_transfers",
    1,
    _schema(
        ("id", pa.string(), False),
        ("debit_account_id", pa.string(), False),
        ("credit_account_id", pa.string(), False),
        ("debit_owner_id", pa.string(), True),
        ("credit_owner_id", pa.string(), True),
        ("debit_code", pa.int32(), False),
        ("credit_code", pa.int32(), False),
        ("amount", _MONEY, False),
        ("currency", pa.string(), False),
        ("code", pa.int32(), False),
        ("flags", pa.int32(), False),
        ("pending_id", pa.string(), True),
        ("status", pa.string(), False),
        ("created_at", _TS, False),
        ("last_seq", pa.int64(), False),
    ),
    key=("id",),
    mode=Mode.UPSERT,
    dated_by="created_at",
    doc="One row per transfer, its accounts' owners and codes; last_seq is the highest"
    " journal seq that touched it (a pending transfer changes when posted or voided).",
)

PAYMENT_ORDERS = WarehouseTable(
    "payment_orders",
    1,
    _schema(
        ("id", pa.string(), False),
        ("kind", pa.string(), False),
        ("merchant_id", pa.string(), False),
        ("product", pa.string(), False),
        ("amount", _MONEY, False),
        ("currency", pa.string(), False),
        ("fee_amount", _MONEY, False),
        ("status", pa.string(), False),
        ("channel", pa.string(), True),
        ("failure_class", pa.string(), True),
        ("failure_code", pa.string(), True),
        ("parent_id", pa.string(), True),
        ("refunded_amount", _MONEY, False),
        ("party_card_token", pa.string(), True),
        ("party_id_token", pa.string(), True),
        ("party_phone_token", pa.string(), True),
        ("party_account_token", pa.string(), True),
        ("party_card_masked", pa.string(), True),
        ("created_at", _TS, False),
        ("updated_at", _TS, False),
        ("finished_at", _TS, True),
    ),
    key=("id",),
    mode=Mode.UPSERT,
    dated_by="created_at",
    doc="Pay-ins, payouts and refunds; the payer (pay-in) or payee (payout) as blind"
    " tokens of their numbers, the card also masked 6+4; no names, no free text.",
)

PAYMENT_ATTEMPTS = WarehouseTable(
    "payment_attempts",
    1,
    _schema(
        ("id", pa.string(), False),
        ("order_id", pa.string(), False),
        ("kind", pa.string(), False),
        ("merchant_id", pa.string(), False),
        ("product", pa.string(), False),
        ("channel", pa.string(), False),
        ("business_date", pa.date32(), False),
        ("status", pa.string(), False),
        ("failure_class", pa.string(), True),
        ("failure_code", pa.string(), True),
        ("started_at", _TS, False),
        ("finished_at", _TS, True),
        ("latency_ms", pa.int32(), True),
    ),
    key=("id",),
    mode=Mode.UPSERT,
    dated_by="business_date",
    doc="Each try of an order on a channel: the raw material of channel success rates.",
)

RECON_LINES = WarehouseTable(
    "recon_lines",
    1,
    _schema(
        ("import_id", pa.string(), False),
        ("line_no", pa.int32(), False),
        ("source", pa.string(), False),
        ("business_date", pa.date32(), False),
        ("source_ref", pa.string(), True),
        ("kind", pa.string(), True),
        ("direction", pa.string(), True),
        ("amount", _MONEY, False),
        ("currency", pa.string(), False),
        ("fee", _MONEY, True),
        ("status", pa.string(), True),
        ("channel_txn_id", pa.string(), True),
        ("reference", pa.string(), True),
        ("booked_at", _TS, True),
        ("duplicate", pa.bool_(), False),
        ("order_id", pa.string(), True),
        ("matched_by", pa.string(), True),
        ("account_token", pa.string(), True),
        ("bank_kind", pa.string(), True),
        ("counter_amount", _MONEY, True),
        ("counter_currency", pa.string(), True),
    ),
    key=("import_id", "line_no"),
    mode=Mode.UPSERT,
    dated_by="business_date",
    doc="Lines of channel and bank statements as imported and matched; the statement's"
    " account as a blind token, the counterparty not exported.",
)

RECON_BREAKS = WarehouseTable(
    "recon_breaks",
    1,
    _schema(
        ("id", pa.int64(), False),
        ("type", pa.string(), False),
        ("status", pa.string(), False),
        ("source", pa.string(), False),
        ("business_date", pa.date32(), False),
        ("import_id", pa.string(), True),
        ("line_no", pa.int32(), True),
        ("order_id", pa.string(), True),
        ("currency", pa.string(), True),
        ("line_amount", _MONEY, True),
        ("order_amount", _MONEY, True),
        ("line_status", pa.string(), True),
        ("order_status", pa.string(), True),
        ("line_fee", _MONEY, True),
        ("order_fee", _MONEY, True),
        ("direction", pa.string(), True),
        ("suspense_transfer_id", pa.string(), True),
        ("adjustment_transfer_id", pa.string(), True),
        ("created_at", _TS, False),
        ("updated_at", _TS, False),
    ),
    key=("id",),
    mode=Mode.UPSERT,
    dated_by="business_date",
    doc="Reconciliation breaks and where their workflow stands; notes are not exported.",
)

CUSTODY_RECEIPTS = WarehouseTable(
    "custody_receipts",
    1,
    _schema(
        ("id", pa.string(), False),
        ("bank", pa.string(), False),
        ("merchant_id", pa.string(), True),
        ("owner", pa.string(), True),
        ("amount", _MONEY, False),
        ("currency", pa.string(), False),
        ("received_at", _TS, False),
        ("business_date", pa.date32(), False),
        ("status", pa.string(), False),
        ("origin", pa.string(), True),
        ("deal_id", pa.string(), True),
        ("refund_id", pa.string(), True),
        ("payer_account_token", pa.string(), True),
        ("updated_at", _TS, False),
    ),
    key=("id",),
    mode=Mode.UPSERT,
    dated_by="business_date",
    doc="Money received on custody sub-accounts: matched to a deal, or auto-refunded at"
    " the 24:00 cut-off; the payer's account as a blind token.",
)

SPLIT_SPLITS = WarehouseTable(
    "split_splits",
    1,
    _schema(
        ("id", pa.string(), False),
        ("merchant_id", pa.string(), False),
        ("payin_id", pa.string(), False),
        ("rule_id", pa.string(), True),
        ("product", pa.string(), False),
        ("currency", pa.string(), False),
        ("mode", pa.string(), False),
        ("payin_amount", _MONEY, False),
        ("base", _MONEY, False),
        ("refunded", _MONEY, False),
        ("status", pa.string(), False),
        ("legs_json", pa.string(), False),
        ("created_at", _TS, False),
        ("updated_at", _TS, False),
    ),
    key=("id",),
    mode=Mode.UPSERT,
    dated_by="created_at",
    doc="Split settlements of pay-ins; legs_json is the legs as stored (receivers are"
    " account or merchant ids, amounts in minor units).",
)

COLLECTION_ATTEMPTS = WarehouseTable(
    "collection_attempts",
    1,
    _schema(
        ("id", pa.string(), False),
        ("plan_id", pa.string(), False),
        ("merchant_id", pa.string(), False),
        ("period_no", pa.int32(), False),
        ("attempt_no", pa.int32(), False),
        ("method", pa.string(), False),
        ("status", pa.string(), False),
        ("payin_id", pa.string(), True),
        ("failure_code", pa.string(), True),
        ("amount", _MONEY, False),
        ("currency", pa.string(), False),
        ("due_date", pa.date32(), True),
        ("started_at", _TS, False),
        ("finished_at", _TS, True),
    ),
    key=("id",),
    mode=Mode.UPSERT,
    dated_by="started_at",
    doc="Each try to collect a period of a recurring plan (rent), with its plan's amount.",
)

TABLES: tuple[WarehouseTable, ...] = (
    LEDGER_ENTRIES,
    LEDGER_TRANSFERS,
    PAYMENT_ORDERS,
    PAYMENT_ATTEMPTS,
    RECON_LINES,
    RECON_BREAKS,
    CUSTODY_RECEIPTS,
    SPLIT_SPLITS,
    COLLECTION_ATTEMPTS,
)
BY_NAME = {t.name: t for t in TABLES}
