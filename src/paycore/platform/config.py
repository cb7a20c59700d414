"""Settings from environment variables, read once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///./var/paycore.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    expiry_interval_s: float

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("PAYCORE_DATABASE_URL", DEFAULT_DATABASE_URL),
            expiry_interval_s=float(os.environ.get("PAYCORE_EXPIRY_INTERVAL_S", "1.0")),
        )


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a file-backed SQLite database (./var/ by default)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
