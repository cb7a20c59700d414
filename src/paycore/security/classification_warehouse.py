"""The warehouse's Parquet files and the reports run over them, in the registry.

One file kind per warehouse table, its fields being the table's columns (warehouse/
schemas.py), so a column added there without a class here fails the test. Personal numbers
leave paycore only as blind-index tokens (the card also masked 6+4); names, notes and free
text are not exported at all. A report's output (`paycore reports run --out`) holds
aggregates per merchant, day, channel or account code.

Not declared: the synthetic marketplace `paycore aml evaluate` and `bench/aml_scoring.py`
generate (aml/synth.py): generated payers, never a real one, like the test statements.
"""

from __future__ import annotations

from paycore.security.classification import AtRest, Field, FileKind, Level
from paycore.warehouse.schemas import TABLES, WarehouseTable

_TOKEN = "{} as a blind-index token (HMAC-SHA256 under the blind key), never the number"
PERSONAL: dict[str, tuple[Level, AtRest, str]] = {
    "party_card_token": (Level.C2, AtRest.BLIND_INDEXED, _TOKEN.format("the card number")),
    "party_id_token": (Level.C2, AtRest.BLIND_INDEXED, _TOKEN.format("the ID number")),
    "party_phone_token": (Level.C2, AtRest.BLIND_INDEXED, _TOKEN.format("the phone number")),
    "party_account_token": (Level.C2, AtRest.BLIND_INDEXED, _TOKEN.format("the account")),
    "party_card_masked": (Level.C2, AtRest.MASKED, "the card number masked 6+4"),
    "account_token": (Level.C2, AtRest.BLIND_INDEXED, _TOKEN.format("the statement account")),
    "payer_account_token": (Level.C2, AtRest.BLIND_INDEXED, _TOKEN.format("the payer account")),
}
"""The warehouse columns that stand for a person's number; every other column is C1."""

_WRITER = "warehouse/service.py:WarehouseExport.export"


def _table_kind(table: WarehouseTable) -> FileKind:
    where = f"warehouse_{table.name}"
    fields = []
    for name in table.schema.names:
        level, at_rest, holds = PERSONAL.get(name, (Level.C1, AtRest.CLEAR, ""))
        fields.append(Field(where, name, level, at_rest, holds, _WRITER, in_file=True))
    return FileKind(
        name=where,
        path=f"<warehouse root>/{table.name}/dt=YYYY-MM-DD/part-*.parquet",
        written_by=_WRITER,
        fields=tuple(fields),
        note=table.doc,
    )


_REPORT_WRITER = "warehouse/cli_reports.py:run (rows from warehouse/reports.py)"
REPORT_KIND = FileKind(
    name="warehouse_report",
    path="--out of `paycore reports run` (CSV, XLSX or SVG)",
    written_by=_REPORT_WRITER,
    fields=(
        Field(
            "warehouse_report",
            "report_columns",
            Level.C1,
            AtRest.CLEAR,
            "",
            _REPORT_WRITER,
            in_file=True,
        ),
    ),
    note="aggregates per merchant, day, channel or account code (warehouse/reports/*.sql"
    " declare their columns): counts, minor units, ppm; no person",
)

WAREHOUSE_KINDS: tuple[FileKind, ...] = (*(_table_kind(t) for t in TABLES), REPORT_KIND)
