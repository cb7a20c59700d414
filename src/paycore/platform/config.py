"""Settings from environment variables, read once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///./var/paycore.db"
DEFAULT_DATA_DIR = "./var"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    expiry_interval_s: float
    data_dir: str = DEFAULT_DATA_DIR
    """Where generated development keys and the sandbox bank's files live."""
    field_keys: str = ""
    """PAYCORE_FIELD_KEYS: `kid:base64key,kid2:base64key` (32-byte AES keys). Empty: a
    development key is generated under data_dir/keys/ (never do that in production)."""
    field_key_id: str = ""
    """PAYCORE_FIELD_KEY_ID: which key encrypts new values; older ones still decrypt."""
    blind_index_key: str = ""
    """PAYCORE_BLIND_INDEX_KEY: the blind index's HMAC key (base64, 32 bytes), or
    `kid:base64,kid2:base64` during a rotation (the last writes). Empty: a development key
    is generated under data_dir/keys/ (never do that in production)."""
    channels_file: str = ""
    """PAYCORE_CHANNELS_FILE: JSON describing channels and routes. Empty: one sandbox-bank
    channel at PAYCORE_SANDBOX_URL using the keys under data_dir/sandbox-bank/."""
    sandbox_url: str = "http://127.0.0.1:8100"
    """PAYCORE_SANDBOX_URL: where the default sandbox channel's bank answers (and where
    `serve` starts one): another port lets two checkouts run side by side."""
    public_url: str = "http://127.0.0.1:8000"
    """PAYCORE_PUBLIC_URL: where channels send their callbacks."""
    workers_enabled: bool = True
    """PAYCORE_WORKERS: run the janitor and webhook relay threads inside `serve`."""
    ledger_check_interval_s: float = 3600.0
    """PAYCORE_LEDGER_CHECK_INTERVAL_S: how often `serve` recomputes every balance from the
    journal (`paycore ledger check`) and records the result."""
    custody_file: str = ""
    """PAYCORE_CUSTODY_FILE: JSON describing custody banks. Empty: one built-in sandbox
    custody bank (product house_deposit, Asia/Shanghai, cut-off 24:00)."""
    reports_database_url: str = ""
    """PAYCORE_REPORTS_DATABASE_URL: where bills and reports read (a read replica). Empty:
    the main database, through a pool of its own."""
    reports_pool_size: int = 4
    """PAYCORE_REPORTS_POOL_SIZE: connections of the reports pool per process; bills never
    take a connection payments need."""
    reports_pool_timeout_s: float = 2.0
    """PAYCORE_REPORTS_POOL_TIMEOUT_S: how long a bill waits for a reports connection. Bills
    are admitted up to the pool's size, so none should wait; this only bounds a surprise."""
    bills_statement_timeout_ms: int = 5000
    """PAYCORE_BILLS_STATEMENT_TIMEOUT_MS: the longest any one bill query may run; past it
    the bill answers 503 `bills_query_timeout` with Retry-After."""
    bills_concurrency_per_merchant: int = 2
    """PAYCORE_BILLS_CONCURRENCY_PER_MERCHANT: bills of one merchant running at once, per
    server process; more answer 429 `bills_busy`."""
    bills_rate_per_s: float = 1.0
    """PAYCORE_BILLS_RATE_PER_S: bills one merchant may start per second, per server process,
    on average (a token bucket); past it 429 `bills_rate_limited`."""
    bills_burst: int = 10
    """PAYCORE_BILLS_BURST: bills a merchant may start at once after a quiet spell (the
    bucket's size)."""
    bills_time_share: float = 0.2
    """PAYCORE_BILLS_TIME_SHARE: with PAYCORE_BILLS_PROCESSES=0 only, seconds of bills a
    server process runs per second, on average (their wall time, added up): there bills
    are Python in the process that serves pay-ins. Past it 429 `bills_busy`."""

    bills_processes: int = 0
    """PAYCORE_BILLS_PROCESSES (2 from the environment, so for `serve`): worker processes
    that compute bills, niced, beside each server process, so a storm of bills takes no
    CPU or GIL from pay-ins (bills/workers.py). 0 computes them in the server's threads:
    the default of Settings built in code (tests with a ManualClock, in-memory SQLite)."""

    slo_file: str = ""
    """PAYCORE_SLO_FILE: SLO targets, latency thresholds and the prober (JSON, ops/slo.py:
    {"slos": [...], "probe": {"enabled", "interval_s", "timeout_s", ...}}). Empty: the
    documented defaults (ops/README.md)."""
    ops_incidents_file: str = ""
    """PAYCORE_OPS_INCIDENTS_FILE: detector thresholds and grading rules (JSON
    {"thresholds": {...}, "grade_rules": [...]}, ops/model.py). Empty: the documented
    defaults (ops/README.md)."""
    file_retention_days: str = ""
    """PAYCORE_FILE_RETENTION_DAYS: `kind=days,...` over the defaults (statement 180,
    inbound 180, h2h_outbound 7, export 7; security/retention.py): kept files older than
    that are purged."""
    key_provider: str = "file"
    """PAYCORE_KEY_PROVIDER: who holds the key-encryption keys that wrap the data keys:
    `file` (data_dir/keys/kek.json, development) or `pkcs11` (a hardware or SoftHSM2 token)."""
    pkcs11_library: str = "/usr/lib/softhsm/libsofthsm2.so"
    """PAYCORE_PKCS11_LIBRARY: the PKCS#11 module of the token."""
    pkcs11_token: str = "paycore"
    """PAYCORE_PKCS11_TOKEN: the token's label."""
    pkcs11_pin: str = ""
    """PAYCORE_PKCS11_PIN: the token's user PIN (from a secret store)."""
    finance_chart_file: str = ""
    """PAYCORE_FINANCE_CHART_FILE: JSON mapping ledger account codes to general-ledger
    accounts. Empty: the default chart (finance/chart.py, finance/README.md)."""
    finance_url: str = "http://127.0.0.1:8300"
    """PAYCORE_FINANCE_URL: the finance system vouchers are pushed to (`serve` starts the
    sandbox finance receiver there when nothing answers and the URL is on this machine)."""
    finance_secret_file: str = ""
    """PAYCORE_FINANCE_SECRET_FILE: the secret pushes are signed with. Empty: the sandbox
    receiver's, data_dir/sandbox-finance/push_secret. Without the file nothing is pushed."""
    finance_push_interval_s: float = 5.0
    """PAYCORE_FINANCE_PUSH_INTERVAL_S: how often `serve` pushes due vouchers."""
    warehouse_dir: str = ""
    """PAYCORE_WAREHOUSE_DIR: the root of the Parquet warehouse. Empty: data_dir/warehouse."""
    warehouse_export_interval_s: float = 300.0
    """PAYCORE_WAREHOUSE_EXPORT_INTERVAL_S: how often `serve` exports to the warehouse;
    0 turns the schedule off (`paycore warehouse export` still works)."""
    aml_rules_file: str = ""
    """PAYCORE_AML_RULES_FILE: AML rule parameters overriding the documented defaults."""
    aml_score_interval_s: float = 86400.0
    """PAYCORE_AML_SCORE_INTERVAL_S: how often `serve` scores the warehouse and opens AML
    cases for the alerts (daily); 0 turns it off (`paycore aml cases open` still works)."""
    aml_institution_name: str = ""
    """PAYCORE_AML_INSTITUTION_NAME: the reporting institution on STR drafts."""
    aml_institution_code: str = ""
    """PAYCORE_AML_INSTITUTION_CODE: its code with the regulator (e.g. the PBOC's)."""

    def warehouse_path(self) -> Path:
        return Path(self.warehouse_dir or Path(self.data_dir) / "warehouse")

    def finance_secret_path(self) -> Path:
        return Path(
            self.finance_secret_file or Path(self.data_dir) / "sandbox-finance" / "push_secret"
        )

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("PAYCORE_DATABASE_URL", DEFAULT_DATABASE_URL),
            expiry_interval_s=float(os.environ.get("PAYCORE_EXPIRY_INTERVAL_S", "1.0")),
            data_dir=os.environ.get("PAYCORE_DATA_DIR", DEFAULT_DATA_DIR),
            field_keys=os.environ.get("PAYCORE_FIELD_KEYS", ""),
            field_key_id=os.environ.get("PAYCORE_FIELD_KEY_ID", ""),
            blind_index_key=os.environ.get("PAYCORE_BLIND_INDEX_KEY", ""),
            channels_file=os.environ.get("PAYCORE_CHANNELS_FILE", ""),
            sandbox_url=os.environ.get("PAYCORE_SANDBOX_URL", "http://127.0.0.1:8100"),
            public_url=os.environ.get("PAYCORE_PUBLIC_URL", "http://127.0.0.1:8000"),
            workers_enabled=os.environ.get("PAYCORE_WORKERS", "1") not in ("0", "false", "no"),
            custody_file=os.environ.get("PAYCORE_CUSTODY_FILE", ""),
            reports_database_url=os.environ.get("PAYCORE_REPORTS_DATABASE_URL", ""),
            reports_pool_size=int(os.environ.get("PAYCORE_REPORTS_POOL_SIZE", "4")),
            reports_pool_timeout_s=float(os.environ.get("PAYCORE_REPORTS_POOL_TIMEOUT_S", "2")),
            bills_statement_timeout_ms=int(
                os.environ.get("PAYCORE_BILLS_STATEMENT_TIMEOUT_MS", "5000")
            ),
            bills_concurrency_per_merchant=int(
                os.environ.get("PAYCORE_BILLS_CONCURRENCY_PER_MERCHANT", "2")
            ),
            bills_rate_per_s=float(os.environ.get("PAYCORE_BILLS_RATE_PER_S", "1")),
            bills_burst=int(os.environ.get("PAYCORE_BILLS_BURST", "10")),
            bills_time_share=float(os.environ.get("PAYCORE_BILLS_TIME_SHARE", "0.2")),
            bills_processes=int(os.environ.get("PAYCORE_BILLS_PROCESSES", "2")),
            slo_file=os.environ.get("PAYCORE_SLO_FILE", ""),
            ops_incidents_file=os.environ.get("PAYCORE_OPS_INCIDENTS_FILE", ""),
            file_retention_days=os.environ.get("PAYCORE_FILE_RETENTION_DAYS", ""),
            key_provider=os.environ.get("PAYCORE_KEY_PROVIDER", "file"),
            pkcs11_library=os.environ.get(
                "PAYCORE_PKCS11_LIBRARY", "/usr/lib/softhsm/libsofthsm2.so"
            ),
            pkcs11_token=os.environ.get("PAYCORE_PKCS11_TOKEN", "paycore"),
            pkcs11_pin=os.environ.get("PAYCORE_PKCS11_PIN", ""),
            finance_chart_file=os.environ.get("PAYCORE_FINANCE_CHART_FILE", ""),
            finance_url=os.environ.get("PAYCORE_FINANCE_URL", "http://127.0.0.1:8300"),
            finance_secret_file=os.environ.get("PAYCORE_FINANCE_SECRET_FILE", ""),
            finance_push_interval_s=float(os.environ.get("PAYCORE_FINANCE_PUSH_INTERVAL_S", "5")),
            warehouse_dir=os.environ.get("PAYCORE_WAREHOUSE_DIR", ""),
            warehouse_export_interval_s=float(
                os.environ.get("PAYCORE_WAREHOUSE_EXPORT_INTERVAL_S", "300")
            ),
            aml_rules_file=os.environ.get("PAYCORE_AML_RULES_FILE", ""),
            aml_score_interval_s=float(os.environ.get("PAYCORE_AML_SCORE_INTERVAL_S", "86400")),
            aml_institution_name=os.environ.get("PAYCORE_AML_INSTITUTION_NAME", ""),
            aml_institution_code=os.environ.get("PAYCORE_AML_INSTITUTION_CODE", ""),
            ledger_check_interval_s=float(
                os.environ.get("PAYCORE_LEDGER_CHECK_INTERVAL_S", "3600")
            ),
        )


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a file-backed SQLite database (./var/ by default)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
