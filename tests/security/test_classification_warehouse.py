"""The warehouse's Parquet files are in the registry column for column, and nothing
personal leaves paycore in them except as a blind token or a masked number."""

from __future__ import annotations

from paycore.security.classification import AtRest, Level
from paycore.security.classification_files import KINDS
from paycore.security.classification_warehouse import PERSONAL
from paycore.warehouse.schemas import TABLES


def test_every_warehouse_table_declares_exactly_the_columns_of_its_schema() -> None:
    for table in TABLES:
        kind = KINDS[f"warehouse_{table.name}"]
        assert [f.name for f in kind.fields] == list(table.schema.names), table.name


def test_no_warehouse_column_keeps_a_personal_value_in_clear() -> None:
    fields = [f for t in TABLES for f in KINDS[f"warehouse_{t.name}"].fields]
    personal = {f.name for f in fields if f.level is Level.C2}
    assert all(
        f.at_rest in (AtRest.BLIND_INDEXED, AtRest.MASKED) for f in fields if f.name in personal
    )
    looks_personal = {f.name for f in fields if f.name.endswith(("_token", "_masked"))}
    assert looks_personal <= set(PERSONAL) and personal == looks_personal
