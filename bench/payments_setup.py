"""The processes of bench/payments.py: the sandbox banks, `paycore serve`, the database
of each backend with its merchant and keys.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from common import free_port, log_tail, psycopg_dsn, stop_gracefully
from paycore.platform.config import Settings
from paycore.platform.lifeline import start_child
from paycore.security.crypto import FieldCipher, load_field_cipher
from proc_cpu import process_cpu

MERCHANT_ID = "mch_bench"
BANK_FAULTS = {"sync_rate": 0.1}  # the default mix: no faults, 10% of results in the answer
START_TIMEOUT_S = 60.0
SETTLE_WINDOW_S = 0.5
SETTLE_CPU_SHARE = 0.2
"""A worker is settled once it used less than this share of a core over the window."""
STOP_TIMEOUT_S = 15.0
CLI_TIMEOUT_S = 120.0
console = Console(width=None if sys.stdout.isatty() else 160)


def paycore_command() -> list[str]:
    script = Path(sys.executable).parent / "paycore"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from paycore.cli import main; main()"]


def run_cli(args: Sequence[str], env: dict[str, str]) -> str:
    """One `paycore ...` command; its stdout, or RuntimeError with its stderr."""
    done = subprocess.run(
        [*paycore_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        command = " ".join(args)
        raise RuntimeError(f"paycore {command}: exit {done.returncode}: {done.stderr[-500:]}")
    return done.stdout


class Process:
    """A `paycore` subprocess on a free port, its output in a log file."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        with log.open("wb") as out:
            # A lifeline: servers and banks stop with this benchmark, even when it is killed.
            self.proc = start_child(
                [*paycore_command(), *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_answering(self, url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(url).status_code == 200:
                        return
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not answering {url} after {START_TIMEOUT_S:.0f} s")

    def pids(self) -> list[int]:
        """The process and its children (uvicorn's workers)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [self.proc.pid, *map(int, children.read_text().split())]
        except OSError:
            return [self.proc.pid]

    def stop(self) -> None:
        stop_gracefully(self.proc, STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log_path, lines)


class Bank(Process):
    def __init__(self, name: str, seed: int, work: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.data_dir = work / name
        args = ["sandbox-bank", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        args += ["--seed", str(seed), "--faults", json.dumps(BANK_FAULTS)]
        super().__init__(name, args, dict(os.environ), work / f"{name}.log")
        self.wait_answering(f"{self.base_url}/health")

    def set_faults(self, changes: dict[str, Any]) -> None:
        response = httpx.put(
            f"{self.base_url}/admin/faults", json=changes, timeout=5.0, trust_env=False
        )
        response.raise_for_status()


@dataclass
class Site:
    """One backend's database, settings and keys; `env` is what every paycore process gets."""

    backend: str
    url: str  # SQLAlchemy URL, as PAYCORE_DATABASE_URL takes it
    version: str
    work: Path
    env: dict[str, str] = field(default_factory=dict)
    merchant_key: str = ""
    admin_key: str = ""

    def prepare(self, banks: Sequence[Bank]) -> None:
        channels_file = self.work / "channels.json"
        channels_file.write_text(json.dumps(channels_config(banks), indent=2))
        self.env = dict(
            os.environ,
            PAYCORE_DATABASE_URL=self.url,
            PAYCORE_DATA_DIR=str(self.work / "data"),
            PAYCORE_CHANNELS_FILE=str(channels_file),
        )
        run_cli(["db", "upgrade"], self.env)
        run_cli(["merchants", "create", "--name", "Bench", "--id", MERCHANT_ID], self.env)
        self.merchant_key = run_cli(
            ["keys", "create", "--merchant", MERCHANT_ID, "--label", "bench", "-q"], self.env
        ).strip()
        self.admin_key = run_cli(
            ["keys", "create", "--scope", "admin", "--label", "bench", "-q"], self.env
        ).strip()

    def answers_cipher(self, engine: Engine) -> FieldCipher:
        """The cipher the site's server seals with (its data dir's keys), to open the
        stored answers the measurements read."""
        env = self.env
        settings = dataclasses.replace(
            Settings.from_env(),
            database_url=self.url,
            data_dir=env["PAYCORE_DATA_DIR"],
            field_keys=env.get("PAYCORE_FIELD_KEYS", ""),
            field_key_id=env.get("PAYCORE_FIELD_KEY_ID", ""),
        )
        return load_field_cipher(settings).bind(engine)


def channels_config(banks: Sequence[Bank]) -> dict[str, Any]:
    """Every product to bank-a first, bank-b second; default timeout and breaker."""
    return {
        "channels": [
            {"name": b.name, "type": "sandbox", "base_url": b.base_url, "data_dir": str(b.data_dir)}
            for b in banks
        ],
        "routes": [
            {
                "product": "*",
                "candidates": [{"channel": b.name, "priority": i + 1} for i, b in enumerate(banks)],
            }
        ],
    }


class Server(Process):
    def __init__(self, site: Site, workers: int, tag: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        env = dict(site.env, PAYCORE_PUBLIC_URL=self.base_url)
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--workers", str(workers), "--no-sandbox"]
        super().__init__("paycore serve", args, env, site.work / f"serve-{tag}.log")

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's workers, or the process itself."""
        workers = [pid for pid in self.pids()[1:] if not _is_resource_tracker(pid)]
        return workers or [self.proc.pid]

    def wait_workers_settled(self) -> None:
        """Until every worker has started and gone quiet. The first worker up answers
        /healthz while the others may still be importing paycore (seconds of CPU on a busy
        machine): that must not be counted, nor profiled, as the cost of pay-ins."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) >= self.workers:
                before = {pid: process_cpu(pid) for pid in pids}
                time.sleep(SETTLE_WINDOW_S)
                busy = [
                    pid
                    for pid in pids
                    if (now := process_cpu(pid)) is None
                    or (was := before[pid]) is None
                    or now.total_s - was.total_s > SETTLE_CPU_SHARE * SETTLE_WINDOW_S
                ]
                if not busy:
                    return
            else:
                time.sleep(SETTLE_WINDOW_S)
        raise RuntimeError(f"paycore serve: workers still starting after {START_TIMEOUT_S:.0f} s")


def _is_resource_tracker(pid: int) -> bool:
    """multiprocessing's helper that uvicorn's spawned workers bring along."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@contextlib.contextmanager
def serving(site: Site, workers: int, tag: str) -> Iterator[Server]:
    server = Server(site, workers, tag)
    try:
        with console.status(f"{site.backend}: starting paycore serve --workers {workers}"):
            server.wait_answering(f"{server.base_url}/healthz")
            server.wait_workers_settled()
        yield server
    except Exception:
        console.print(f"[dim]{server.log_tail()}[/dim]")
        raise
    finally:
        with console.status(f"{site.backend}: stopping paycore serve"):
            server.stop()


def postgres_site(url: URL, work: Path) -> Site:
    name = url.database or ""
    admin = psycopg_dsn(url.set(database="postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        row = conn.execute("SHOW server_version").fetchone()
    sa_url = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return Site("postgres", sa_url, f"PostgreSQL {row[0] if row else '?'}", work)


def sqlite_site(work: Path) -> Site:
    import sqlite3

    path = work / "paycore.db"
    return Site("sqlite", f"sqlite:///{path}", f"SQLite {sqlite3.sqlite_version}", work)
