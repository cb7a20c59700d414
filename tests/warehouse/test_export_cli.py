"""`paycore warehouse export | status | schemas`, and the README that documents the tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import paycore.warehouse
from paycore.warehouse.cli import warehouse_app
from paycore.warehouse.docs import schema_markdown
from paycore.warehouse.schemas import TABLES
from tests.payments.http_conftest import Tenant
from tests.warehouse.conftest import paid_payins

README = Path(paycore.warehouse.__file__).with_name("README.md")


@pytest.fixture
def env(database_url: str, warehouse_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAYCORE_DATABASE_URL", database_url)
    monkeypatch.setenv("PAYCORE_WAREHOUSE_DIR", str(warehouse_root))
    return warehouse_root


def test_export_then_status_show_each_tables_rows_and_watermark(
    client: TestClient, tenant: Tenant, env: Path
) -> None:
    paid_payins(client, tenant, [10_000, 2_000])
    runner = CliRunner()

    exported = runner.invoke(warehouse_app, ["export"])
    again = runner.invoke(warehouse_app, ["export", "--table", "ledger_entries"])
    shown = runner.invoke(warehouse_app, ["status"])

    assert exported.exit_code == 0, exported.output
    assert "ledger_entries" in exported.output and "exported" in exported.output
    assert again.exit_code == 0 and "nothing" in again.output
    assert shown.exit_code == 0, shown.output
    assert "seq " in shown.output and "done" in shown.output
    assert list(env.glob("ledger_entries/dt=*/part-*.parquet"))


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["export", "--until", "2026-13-01"], "invalid_date"),
        (["export", "--until", "20261201"], "invalid_date"),
        (["export", "--table", "ledger_balances"], "warehouse_table_unknown"),
    ],
)
def test_bad_arguments_are_refused_with_a_code_and_exit_2(
    arguments: list[str], code: str, env: Path
) -> None:
    refused = CliRunner().invoke(warehouse_app, arguments)

    assert refused.exit_code == 2
    assert code in refused.output


def test_the_readme_documents_every_column_of_every_table_as_the_schemas_command_prints() -> None:
    printed = CliRunner().invoke(warehouse_app, ["schemas"])

    assert printed.exit_code == 0
    assert printed.output == schema_markdown()
    readme = README.read_text(encoding="utf-8")
    assert schema_markdown() in readme, "run `paycore warehouse schemas` into the README"
    for table in TABLES:
        for field in table.schema:
            assert f"`{field.name}`" in readme
