"""Personal data leaves only as blind tokens or masked: no payer's or payee's number, no
name, no free text in any exported file."""

from __future__ import annotations

from pathlib import Path

import duckdb
from fastapi.testclient import TestClient

from paycore.clock import ManualClock
from paycore.runtime import Runtime
from paycore.security.masking import mask_card
from paycore.warehouse.schemas import TABLES
from paycore.warehouse.service import WarehouseExport
from tests.payments.http_conftest import CARD, PHONE, Tenant, create_payin, payout_body
from tests.warehouse.conftest import paid_payins, rows_of, settle

ID_NUMBER = "11010519491231002X"
PAYEE_ACCOUNT = "6217000010001234567"
NAMES = ("张三丰", "李四")
DESCRIPTION = "March rent for flat 12B"


def _seed(client: TestClient, tenant: Tenant) -> str:
    paid_payins(client, tenant, [50_000])  # funds the payout below
    created = create_payin(
        client,
        tenant,
        payer={"card_number": CARD, "name": NAMES[0], "phone": PHONE, "id_number": ID_NUMBER},
        description=DESCRIPTION,
    )
    assert created.status_code == 201, created.text
    payout = client.post("/v1/payouts", json=payout_body(), headers=tenant.headers())
    assert payout.status_code in (201, 202), payout.text
    return str(created.json()["id"])


def test_no_number_name_or_description_of_a_person_is_in_any_exported_file(
    client: TestClient,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    _seed(client, tenant)
    settle(clock)
    exporter.export()

    secrets = (CARD, PHONE, ID_NUMBER, PAYEE_ACCOUNT, *NAMES, DESCRIPTION)
    files = list(warehouse_root.rglob("*"))
    assert any(p.suffix == ".parquet" for p in files)
    for path in (p for p in files if p.is_file()):
        data = path.read_bytes()
        assert not [s for s in secrets if s.encode() in data], path
    for table in TABLES:
        columns = ", ".join(f"CAST({f.name} AS VARCHAR)" for f in table.schema)
        for row in rows_of(con, warehouse_root, table.name, f"SELECT {columns} FROM {{t}}"):
            text = "|".join(str(value) for value in row)
            assert not [s for s in secrets if s in text], table.name


def test_the_payers_numbers_are_exported_as_the_blind_index_tokens_and_the_card_masked(
    client: TestClient,
    runtime: Runtime,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    payin = _seed(client, tenant)
    settle(clock)
    exporter.export(tables=["payment_orders"])

    sql = (
        "SELECT party_card_token, party_id_token, party_phone_token, party_card_masked"
        f" FROM {{t}} WHERE id = '{payin}'"
    )
    [(card, id_number, phone, masked)] = rows_of(con, warehouse_root, "payment_orders", sql)
    indexer = runtime.blind_index.indexer
    assert card in indexer.lookup_tokens("card_number", CARD)
    assert id_number in indexer.lookup_tokens("id_number", ID_NUMBER)
    assert phone in indexer.lookup_tokens("phone", PHONE)
    assert masked == mask_card(CARD)
    payees = rows_of(
        con,
        warehouse_root,
        "payment_orders",
        "SELECT party_account_token FROM {t} WHERE kind = 'payout'",
    )
    assert payees == [(indexer.lookup_tokens("account_number", PAYEE_ACCOUNT)[0],)]
