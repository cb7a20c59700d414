"""The two engines a report runs on, over the same warehouse files and the same SQL text.

DuckDB is the one `paycore reports run` uses: embedded, a connection per run. Spark (local
mode, Java from Debian) proves the SQL is not DuckDB's dialect but portable: a report runs
unchanged on both and a test compares the rows.

Each warehouse table becomes a view named after it, with the contract's columns and the
partition `dt` as a DATE (the types come from the contract, never from what the files
guess). A table with no file yet is an empty view of the same columns, so every report
runs on a young warehouse too.

The common dialect has one gap: integer division. Spark has `div(a, b)` (truncating, a
BIGINT); DuckDB spells it `a // b`. DuckDB gets a `div` macro, so report SQL can say
`div(...)` and stay free of floats. `unix_date(d)` (days since 1970-01-01, Spark's) is
given to DuckDB the same way, for ages in days.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from paycore.warehouse.schemas import PARTITION, TABLES, WarehouseTable

DUCKDB_MACROS = (
    "CREATE OR REPLACE MACRO div(a, b) AS a // b",
    "CREATE OR REPLACE MACRO unix_date(d) AS (d - DATE '1970-01-01')",
)
SPARK_MASTER = "local[2]"
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # Reports are small: the default 200 shuffle partitions cost seconds of scheduling.
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
SMALL_DATA_CONF = {
    # For a few thousand rows (the tests' warehouses) compiling code costs more than it
    # saves: no whole-stage code generation, no adaptive re-planning, and a JVM that
    # starts fast (the C1 compiler only). Measured on the tests' kit, 2 busy CPUs: the
    # session and eleven reports in 26 s instead of 77 s.
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
}
SMALL_DATA_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
_LOG4J2 = """\
# Errors only. org.apache (Spark, Hadoop, Parquet) is named too: Spark announces on stderr
# that it changed the level of a logger that has no configuration of its own.
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.apache.name = org.apache
logger.apache.level = error
"""


class Engine(Protocol):
    name: str

    def run(self, sql: str) -> pa.Table: ...


def view_schema(table: WarehouseTable) -> pa.Schema:
    """The columns a report sees: the contract's, then the partition as a date."""
    return table.schema.append(pa.field(PARTITION, pa.date32(), nullable=False))


def _has_files(root: Path, table: WarehouseTable) -> bool:
    return any((root / table.name).glob(f"{PARTITION}=*/*.parquet"))


def _sql_text(value: str) -> str:
    """A path as a SQL string literal (quotes doubled): the root comes from settings, but a
    quote in a directory name must not end the literal."""
    return "'" + value.replace("'", "''") + "'"


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, root: Path) -> None:
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET TimeZone = 'UTC'")
        for macro in DUCKDB_MACROS:
            self._con.execute(macro)
        for table in TABLES:
            self._register(root, table)

    def _register(self, root: Path, table: WarehouseTable) -> None:
        schema = view_schema(table)
        if not _has_files(root, table):
            self._con.register(f"{table.name}__empty", schema.empty_table())
            self._con.execute(
                f"CREATE OR REPLACE VIEW {table.name} AS SELECT * FROM {table.name}__empty"
            )
            return
        pattern = str(root / table.name / f"{PARTITION}=*" / "*.parquet")
        columns = ", ".join(schema.names)
        self._con.execute(
            f"CREATE OR REPLACE VIEW {table.name} AS SELECT {columns} FROM read_parquet("
            f"{_sql_text(pattern)}, hive_partitioning = true, union_by_name = true, "
            f"hive_types = {{'{PARTITION}': DATE}})"
        )

    def run(self, sql: str) -> pa.Table:
        return self._con.sql(sql).to_arrow_table()

    def close(self) -> None:
        self._con.close()


_spark_lock = threading.Lock()
_spark: Any = None


def spark_session(*, small_data: bool = False) -> Any:
    """The process's one Spark session (a JVM takes seconds to start): local mode, no UI,
    logs at error level only. `small_data` tunes it for tiny warehouses; it counts only
    for the process's first session."""
    global _spark
    with _spark_lock:
        if _spark is None:
            from pyspark.sql import SparkSession

            # A file of this process's own (mkstemp: never a name another user planted).
            handle, log_config = tempfile.mkstemp(prefix="paycore-spark-", suffix=".properties")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(_LOG4J2)
            builder = SparkSession.builder.master(SPARK_MASTER).appName("paycore-reports")
            conf = SPARK_CONF | (SMALL_DATA_CONF if small_data else {})
            for key, value in conf.items():
                builder = builder.config(key, value)
            java_options = f"-Dlog4j2.configurationFile={log_config}"
            if small_data:
                java_options = f"{SMALL_DATA_JAVA_OPTIONS} {java_options}"
            builder = builder.config("spark.driver.extraJavaOptions", java_options)
            try:
                _spark = builder.getOrCreate()
            finally:
                os.unlink(log_config)  # read once, as the JVM started
            _spark.sparkContext.setLogLevel("ERROR")
        return _spark


class SparkEngine:
    name = "spark"

    def __init__(self, root: Path, *, small_data: bool = False) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        # A session of its own over the shared JVM: its views are its own, so two engines
        # over two warehouses in one process never see each other's tables.
        self._spark = spark_session(small_data=small_data).newSession()
        for table in TABLES:
            schema = from_arrow_schema(view_schema(table))
            if _has_files(root, table):
                frame = (
                    self._spark.read.schema(schema)
                    .option("basePath", str(root / table.name))
                    .parquet(str(root / table.name))
                )
            else:
                frame = self._spark.createDataFrame([], schema)
            frame.createOrReplaceTempView(table.name)

    def run(self, sql: str) -> pa.Table:
        return self._spark.sql(sql).toArrow()


ENGINES = ("duckdb", "spark")


def open_engine(name: str, root: Path) -> DuckDBEngine | SparkEngine:
    if name == "spark":
        return SparkEngine(root)
    return DuckDBEngine(root)
