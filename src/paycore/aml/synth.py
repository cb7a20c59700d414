"""A synthetic marketplace with planted typologies, written as warehouse Parquet.

Deterministic by seed, built in DuckDB SQL (synth_normal.py, synth_plant.py) and written
with COPY ... PARTITION_BY (dt) in the contract's schemas (warehouse/schemas.py), so the
rules read it exactly as they read a real export. Only the tables the rules read are
written: payment_orders (pay-ins, refunds, settlement payouts) and ledger_transfers (the
capture of each pay-in, each refund and payout leaving the merchant's wallet, and owner
-> owner wallet transfers). Holds and fee legs are left out: they add volume, not signal.

`labels.parquet` beside the warehouse says which subject was planted with which typology
(subject_type, subject_id, typology); payers are named by their ID-number token.

The scale knob is the number of ledger transfers: merchants, payers and planted cases
grow with it (10,000,000 transfers: 25,000 merchants, 500,000 payers, 100 plants each).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from paycore.aml import synth_normal, synth_plant
from paycore.errors import Rejected
from paycore.warehouse.schemas import LEDGER_TRANSFERS, PAYMENT_ORDERS, WarehouseTable

TRANSFERS_DEFAULT = 200_000
TRANSFERS_MAX = 100_000_000
START = date(2025, 8, 1)
MEMORY_LIMIT = "3GB"
DAYS = 120
"""August to November: the National Day week and 11.11 inside, 17 weeks of history."""


@dataclass(frozen=True)
class Sizes:
    transfers: int
    merchants: int
    payers: int
    payins: int
    owner_transfers: int
    plants: int

    @classmethod
    def for_transfers(cls, transfers: int) -> Sizes:
        if not 10_000 <= transfers <= TRANSFERS_MAX:
            raise Rejected("synth_size_invalid", f"transfers must be 10,000-{TRANSFERS_MAX:,}")
        merchants = max(500, transfers // 400)
        return cls(
            transfers=transfers,
            merchants=merchants,
            payers=max(10_000, transfers // 20),
            payins=transfers * 79 // 100,
            owner_transfers=transfers * 6 // 100,
            plants=max(20, merchants // 250),
        )


@dataclass(frozen=True)
class Generated:
    warehouse: Path
    labels: Path
    sizes: Sizes
    rows: dict[str, int]


def generate(out: Path, *, transfers: int = TRANSFERS_DEFAULT, seed: int = 1) -> Generated:
    """Write `<out>/warehouse/<table>/dt=.../part-*.parquet` and `<out>/labels.parquet`."""
    sizes = Sizes.for_transfers(transfers)
    values = {
        "seed": int(seed),
        "start": START.isoformat(),
        "days": DAYS,
        "merchants": sizes.merchants,
        "payers": sizes.payers,
        "payins": sizes.payins,
        "owner_transfers": sizes.owner_transfers,
        "n": sizes.plants,
    }
    warehouse = out / "warehouse"
    warehouse.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")
        # Bounded memory: past the limit DuckDB spills to the scratch directory.
        scratch = out / "_scratch"
        con.execute(f"SET temp_directory = '{_quoted(scratch)}'")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        for script in (
            synth_normal.MACROS,
            synth_normal.MERCHANTS,
            synth_normal.PAYINS,
            synth_normal.OWNER_TRANSFERS,
            synth_normal.REFUNDS,
            synth_plant.SUBJECTS,
            synth_plant.MERCHANT_PLANTS,
            synth_plant.PAYER_PLANTS,
            synth_plant.OWNER_PLANTS,
            ASSEMBLE,
        ):
            con.execute(script.format(**values))
        rows = {
            table.name: _write(con, table, warehouse)
            for table in (PAYMENT_ORDERS, LEDGER_TRANSFERS)
        }
        labels = out / "labels.parquet"
        con.execute(
            f"COPY (SELECT * FROM labels ORDER BY ALL) TO '{_quoted(labels)}' (FORMAT parquet)"
        )
    finally:
        con.close()
        shutil.rmtree(out / "_scratch", ignore_errors=True)
    return Generated(warehouse, labels, sizes, rows)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _write(con: duckdb.DuckDBPyConnection, table: WarehouseTable, root: Path) -> int:
    """COPY in the contract's column order and types, one directory per business date."""
    target = root / table.name
    target.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(f"CAST({f.name} AS {_duck_type(f.type)}) AS {f.name}" for f in table.schema)
    con.execute(
        f"COPY (SELECT {columns}, dt FROM {table.name}_out) TO '{_quoted(target)}'"
        " (FORMAT parquet, PARTITION_BY (dt), OVERWRITE_OR_IGNORE, FILENAME_PATTERN 'part-{i}',"
        f" KV_METADATA {{'paycore.schema_version': '{table.version}'}})"
    )
    doc = {
        "table": table.name,
        "version": table.version,
        "key": list(table.key),
        "mode": table.mode.value,
        "columns": [
            {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema
        ],
    }
    (target / "_schema.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    row = con.execute(f"SELECT count(*) FROM {table.name}_out").fetchone()
    return int(row[0]) if row else 0


def _duck_type(kind: object) -> str:
    text = str(kind)
    if text.startswith("timestamp"):
        return "TIMESTAMPTZ"
    return {"string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER", "bool": "BOOLEAN"}.get(
        text, "DATE"
    )


ASSEMBLE = """
CREATE OR REPLACE TEMP TABLE refunded AS
SELECT parent_id, sum(amount) AS refunded FROM refund_rows GROUP BY 1;

CREATE OR REPLACE TEMP TABLE sweep_rows AS
SELECT 'po_' || p.merchant_id || '_' || strftime(sweep_at, '%Y%m%d') AS id, p.merchant_id,
       sum(p.amount - p.amount * 6 // 1000) AS amount, sweep_at AS local_at
FROM (
    SELECT p.*, CASE WHEN m.sweeps_daily
                     THEN CAST(CAST(p.local_at AS DATE) + 1 AS TIMESTAMP)
                     ELSE date_trunc('week', p.local_at) + INTERVAL 7 DAY END
                + INTERVAL 10 HOUR AS sweep_at
    FROM payin_rows p JOIN merchants m USING (merchant_id) WHERE p.status = 'succeeded'
) p GROUP BY p.merchant_id, sweep_at;

CREATE OR REPLACE TEMP TABLE payment_orders_out AS
SELECT p.id, 'payin' AS kind, p.merchant_id, 'checkout' AS product, p.amount,
    'CNY' AS currency, p.amount * 6 // 1000 AS fee_amount, p.status, 'sandbox' AS channel,
    CASE WHEN p.status = 'failed' THEN 'declined' END AS failure_class,
    CASE WHEN p.status = 'failed' THEN 'insufficient_funds' END AS failure_code,
    NULL AS parent_id, coalesce(r.refunded, 0) AS refunded_amount,
    tok('card', p.card_key) AS party_card_token,
    CASE WHEN p.has_id THEN tok('id', p.payer_key) END AS party_id_token,
    CASE WHEN p.has_phone THEN tok('phone', p.payer_key) END AS party_phone_token,
    NULL AS party_account_token, NULL AS party_card_masked, p.local_at
FROM payin_rows p LEFT JOIN refunded r ON r.parent_id = p.id
UNION ALL
SELECT id, 'refund', merchant_id, 'checkout', amount, 'CNY', 0, 'succeeded', 'sandbox', NULL,
    NULL, parent_id, 0, tok('card', card_key), NULL, NULL, NULL, NULL, local_at
FROM refund_rows
UNION ALL
SELECT id, 'payout', merchant_id, 'settlement', amount, 'CNY', 0, 'succeeded', 'sandbox',
    NULL, NULL, NULL, 0, NULL, NULL, NULL, tok('account', merchant_id), NULL, local_at
FROM sweep_rows;

ALTER TABLE payment_orders_out ADD COLUMN created_at TIMESTAMPTZ;
UPDATE payment_orders_out SET created_at = CAST(local_at - INTERVAL 8 HOUR AS TIMESTAMPTZ);
ALTER TABLE payment_orders_out ADD COLUMN updated_at TIMESTAMPTZ;
ALTER TABLE payment_orders_out ADD COLUMN finished_at TIMESTAMPTZ;
ALTER TABLE payment_orders_out ADD COLUMN dt DATE;
UPDATE payment_orders_out SET updated_at = created_at + INTERVAL 3 SECOND,
    finished_at = created_at + INTERVAL 3 SECOND, dt = CAST(local_at AS DATE);

CREATE OR REPLACE TEMP TABLE moves AS
SELECT 'tr_' || id || '_cap' AS id, NULL AS src, merchant_id AS dst,
       amount - amount * 6 // 1000 AS amount, 1 AS code, local_at + INTERVAL 2 SECOND AS local_at
FROM payin_rows WHERE status = 'succeeded'
UNION ALL SELECT 'tr_' || id || '_post', merchant_id, NULL, amount, 5, local_at FROM refund_rows
UNION ALL SELECT 'tr_' || id || '_post', merchant_id, NULL, amount, 3, local_at FROM sweep_rows
UNION ALL SELECT id, src, dst, amount, code, local_at FROM owner_rows;

CREATE OR REPLACE MACRO account(owner, none) AS CASE
    WHEN owner IS NULL THEN none
    WHEN contains(owner, ':') THEN 'acct_uw_' || substr(md5(owner), 1, 24)
    ELSE 'acct_mw_' || owner || '_CNY' END;
CREATE OR REPLACE MACRO code_of(owner, none) AS CASE
    WHEN owner IS NULL THEN none WHEN contains(owner, ':') THEN 2002 ELSE 2001 END;

CREATE OR REPLACE TEMP TABLE ledger_transfers_out AS
SELECT id, account(src, 'acct_clr_sandbox_CNY') AS debit_account_id,
    account(dst, 'acct_transit_CNY') AS credit_account_id,
    src AS debit_owner_id, dst AS credit_owner_id,
    code_of(src, 1101) AS debit_code, code_of(dst, 2101) AS credit_code,
    amount, 'CNY' AS currency, code, 0 AS flags,
    CASE WHEN code IN (3, 5) THEN replace(id, '_post', '_hold') END AS pending_id,
    'posted' AS status, CAST(local_at - INTERVAL 8 HOUR AS TIMESTAMPTZ) AS created_at,
    row_number() OVER (ORDER BY local_at, id) AS last_seq, CAST(local_at AS DATE) AS dt
FROM moves;
"""
