"""What the benchmarks share: local ports and the scratch PostgreSQL database they drop."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def psycopg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def check_pg_url(raw: str) -> URL:
    url = make_url(raw)
    if not url.drivername.startswith("postgresql"):
        raise SystemExit(f"--pg-url must be a postgresql URL, not {url.drivername}")
    if url.host not in LOCAL_HOSTS:
        raise SystemExit(f"--pg-url must point at 127.0.0.1, not {url.host!r}")
    if not url.database or "bench" not in url.database:
        # The database is dropped: refuse anything that does not look like a scratch one.
        raise SystemExit(f"--pg-url database {url.database!r} must have 'bench' in its name")
    return url


def reset_postgres(url: URL) -> str:
    """Drop and create the scratch database `url` names; its SQLAlchemy URL."""
    name = url.database or ""
    admin = psycopg_dsn(url.set(database="postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def reset_sqlite(path: Path) -> str:
    """Remove a scratch SQLite file and its journals; its SQLAlchemy URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path.resolve()}"


def stop_gracefully(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGINT (uvicorn shuts down gracefully, closing the ledger), then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


def log_tail(path: Path, lines: int) -> str:
    """The last lines of a process's log, for a failure message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
