"""Every report's SQL file, unchanged, on Spark (local mode) and on DuckDB over the same
seeded warehouse: the same rows, in the same order, of the same types. One Spark session
for the module (a JVM takes seconds to start)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from paycore.warehouse import reports
from paycore.warehouse.engines import DuckDBEngine, SparkEngine
from tests.warehouse.report_kit import MONTH, seeded

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs java (make install)"),
]

NOVEMBER = reports.parse_month(MONTH)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("warehouse")
    seeded(path)
    return path


@pytest.fixture(scope="module")
def spark(root: Path) -> SparkEngine:
    return SparkEngine(root, small_data=True)


@pytest.fixture(scope="module")
def duck(root: Path) -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine(root)
    yield engine
    engine.close()


@pytest.mark.parametrize("name", reports.names())
def test_the_report_gives_the_same_rows_on_spark_and_on_duckdb(
    name: str, spark: SparkEngine, duck: DuckDBEngine
) -> None:
    report = reports.load(name)
    on_spark = reports.run_on(spark, report, NOVEMBER)
    on_duck = reports.run_on(duck, report, NOVEMBER)
    assert on_spark.num_rows > 0
    assert on_spark.to_pylist() == on_duck.to_pylist()
    assert on_spark.schema == on_duck.schema == report.schema


def test_spark_reads_a_table_with_no_files_as_an_empty_one(
    tmp_path: Path, spark: SparkEngine, root: Path
) -> None:
    shutil.copytree(root, tmp_path / "w")
    shutil.rmtree(tmp_path / "w" / "custody_receipts")
    engine = SparkEngine(tmp_path / "w", small_data=True)
    report = reports.load("custody_auto_refunds")
    assert reports.run_on(engine, report, NOVEMBER).num_rows == 0
    assert reports.run_on(spark, report, NOVEMBER).num_rows > 0  # its own views, untouched
