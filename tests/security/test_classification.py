"""The classification registry covers every column and every written file field, truly."""

from __future__ import annotations

import dataclasses
import importlib
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from paycore.security.classification import (
    PROTECTED,
    PSEUDONYMS,
    TABLES,
    AtRest,
    Level,
    column,
    table_fields,
    unclassified,
    undeclared,
)
from paycore.security.classification_files import FILE_KINDS, KINDS, file_fields
from paycore.tables import metadata

# Issue 15's stores, until the integrator lists them in paycore/tables.py (harmless after).
for _store in ("store_blind", "store_keys", "store_audit"):
    importlib.import_module(f"paycore.security.{_store}")

SOURCE = Path(__file__).resolve().parents[2] / "src" / "paycore"
_WRITER = re.compile(r"([\w/]+\.py):([\w.]+)")


def _declared_schema() -> dict[str, list[str]]:
    return {table.name: [c.name for c in table.columns] for table in metadata.tables.values()}


def test_every_column_of_every_declared_table_has_a_class() -> None:
    assert unclassified(_declared_schema()) == []


def test_the_registry_names_no_table_or_column_that_does_not_exist() -> None:
    assert undeclared(_declared_schema()) == []


def test_every_column_of_the_migrated_database_has_a_class(engine: Engine) -> None:
    found = inspect(engine)
    schema = {
        name: [c["name"] for c in found.get_columns(name)]
        for name in found.get_table_names()
        if name != "alembic_version"  # Alembic's own bookkeeping
    }
    assert "payment_orders" in schema
    assert unclassified(schema) == []


def test_a_column_added_without_a_class_is_reported() -> None:
    schema = {"payment_orders": ["id", "payer_iban"], "payer_addresses": ["line1"]}
    assert unclassified(schema) == ["payer_addresses.line1", "payment_orders.payer_iban"]


def test_a_registry_entry_for_a_dropped_column_is_reported() -> None:
    schema = _declared_schema()
    schema["payment_orders"] = [c for c in schema["payment_orders"] if c != "party_masked"]
    assert undeclared(schema) == ["payment_orders.party_masked"]


def test_no_c3_column_stores_a_clear_secret() -> None:
    c3 = [f for f in table_fields() if f.level is Level.C3]
    assert {f.key for f in c3} >= {"api_keys.secret_hash", "merchants.webhook_secret_enc"}
    for found in c3:
        assert found.at_rest in PROTECTED, found.key
        assert found.holds, f"{found.key} must say what it holds"


def test_each_c3_column_is_one_a_hash_or_a_sealed_key_by_its_stored_form() -> None:
    # A hash column is a fixed-width hex digest; a sealed one is a token or wrapped key.
    for found in (f for f in table_fields() if f.level is Level.C3):
        width = getattr(metadata.tables[found.where].columns[found.name].type, "length", None)
        if found.at_rest is AtRest.HASHED:
            assert width == 64, found.key
        else:
            assert width is None or width >= 128, found.key


def test_every_personal_value_says_what_it_holds() -> None:
    for found in [*table_fields(), *file_fields()]:
        if found.level in (Level.C3, Level.C2):
            assert found.holds, found.key


def test_every_c2_value_in_clear_names_a_writer_that_exists() -> None:
    for found in [*table_fields(), *file_fields()]:
        if found.level is not Level.C2 or found.at_rest is not AtRest.CLEAR:
            continue
        writers = _WRITER.findall(found.written_by)
        assert writers, f"{found.key} names no file:function"
        for path, name in writers:
            text = (SOURCE / path).read_text(encoding="utf-8")
            for part in name.split("."):
                assert re.search(rf"^\s*(def|class) {re.escape(part)}\b", text, re.M), (
                    f"{found.key}: {path} has no {part}"
                )


def test_only_c1_columns_are_pseudonyms() -> None:
    for key in PSEUDONYMS:
        table, name = key.split(".")
        found = column(table, name)
        assert found is not None and found.level is Level.C1, key


def test_personal_columns_of_orders_are_encrypted_or_masked_as_the_code_does() -> None:
    orders = TABLES["payment_orders"]
    assert orders["party_enc"].at_rest is AtRest.ENCRYPTED
    assert orders["party_masked"].at_rest is AtRest.MASKED
    assert TABLES["collection_plans"]["card_enc"].at_rest is AtRest.ENCRYPTED


def test_file_kinds_and_their_fields_are_declared_once() -> None:
    assert len(KINDS) == len(FILE_KINDS)
    for kind in FILE_KINDS:
        names = [f.name for f in kind.fields]
        assert len(names) == len(set(names)), kind.name


def _kind_fields(kind: str) -> set[str]:
    return {f.name for f in KINDS[kind].fields}


def test_bill_exports_declare_every_column_they_write() -> None:
    from paycore.bills.query_model import COLUMNS, What

    for what in What:
        assert _kind_fields(f"bills_export_{what.value}") == set(COLUMNS[what])


@pytest.mark.parametrize(
    ("kind", "module", "constant"),
    [
        ("rewards_result", "paycore.rewards.files", "RESULT_COLUMNS"),
        ("custody_cutoff_report", "paycore.custody.report_file", "HEADER"),
        ("trial_balance_csv", "paycore.chart", "TRIAL_BALANCE_COLUMNS"),
    ],
)
def test_csv_files_declare_every_column_their_writer_writes(
    kind: str, module: str, constant: str
) -> None:
    assert _kind_fields(kind) == set(getattr(importlib.import_module(module), constant))


def test_the_sandbox_bank_statement_declares_every_column() -> None:
    from paycore.sandbox_bank.statement import COLUMNS, SUMMARY_COLUMNS

    written = set(COLUMNS) | {f"Summary/{name}" for name in SUMMARY_COLUMNS}
    assert _kind_fields("channel_statement") == written


def test_the_pain001_file_declares_every_field_it_is_built_from() -> None:
    from paycore.recon.pain import CreditTransfer, Pain001Batch

    built = {f.name for f in dataclasses.fields(CreditTransfer)}
    built |= {f.name for f in dataclasses.fields(Pain001Batch)} - {"transfers"}
    assert _kind_fields("h2h_pain001") == built


def test_the_pushed_voucher_declares_every_field_of_its_body() -> None:
    from paycore.finance.model import Voucher, voucher_body

    voucher = Voucher("v1", date(2026, 12, 1), "receipts", "CNY", "s", (), 0)
    assert _kind_fields("finance_voucher_push") == {*voucher_body(voucher), "body_hash"}


def test_the_dr_backup_declares_its_manifest_and_its_database_copy() -> None:
    from paycore.dr.model import Digest, Fingerprint, Kind, Manifest, Point

    digest = Digest(0, 0, 0, 0)
    manifest = Manifest(
        Kind.SQLITE, "sqlite://", datetime(2026, 12, 1, tzinfo=UTC), Point(0),
        Fingerprint(0, digest, digest, digest),
    )  # fmt: skip
    assert _kind_fields("dr_backup") == {*manifest.to_dict(), "database"}
    assert KINDS["dr_backup"].fields[0].level is Level.C2


def test_the_c3_files_in_clear_are_exactly_the_known_key_files() -> None:
    # A ratchet: a new C3 file in clear fails here until someone decides about it.
    clear = {f.key for f in file_fields() if f.level is Level.C3 and f.at_rest is AtRest.CLEAR}
    assert clear == {
        "field_keys_file:keys",
        "blind_index_key_file:keys",
        "sandbox_bank_keys:private_key",
        "sandbox_finance_secret:secret",
    }
