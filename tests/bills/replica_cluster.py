"""A private PostgreSQL primary and a real streaming replica of it, for the bill tests.

The replica is what production runs: a second cluster made with `pg_basebackup -R -X stream`
that streams and replays the primary's WAL, read-only (`pg_is_in_recovery()` is true).

Why a private primary rather than the shared server on 127.0.0.1:5432: that server has no
`replication` line in pg_hba.conf (a replication connection is refused), a base backup of
it would copy every database on it, and a test pauses replay on its replica. So the tests
initdb a primary of their own on a free port, replicate it, and remove both at the end,
also when the tests fail. Only the PostgreSQL server binaries are needed (Debian's
postgresql-15 puts them in /usr/lib/postgresql/15/bin; PAYCORE_PG_BIN overrides).

Run as root (CI), every PostgreSQL program runs as the `postgres` OS user, which owns the
clusters' folder. A test run killed before its teardown leaves its clusters running; the
next run stops and removes those whose owning process is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from paycore.platform.db import upgrade

log = logging.getLogger(__name__)

ON_POSTGRES = os.environ.get("PAYCORE_DATABASE_URL", "").startswith("postgresql")
DATABASE = "paycore"
START_TIMEOUT_S = 60
REPLAY_TIMEOUT_S = 30.0
POLL_S = 0.05
_PREFIX = "paycore-replica-"
_OWNER_FILE = "owner.pid"
_SETTINGS = (
    # Small and fast: these clusters hold a few test rows and are thrown away.
    "-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    " -c shared_buffers=16MB -c max_connections=40 -c max_wal_senders=4"
    # The standby tells the primary which rows its queries still see, so replaying a
    # vacuum never cancels a bill's query.
    " -c hot_standby_feedback=on"
)


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    port: int
    data_dir: Path

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = DATABASE) -> psycopg.Connection[tuple[object, ...]]:
        conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"
        return psycopg.connect(conninfo, autocommit=True)

    def scalar(self, sql: str) -> object:
        with self.connect() as conn:
            row = conn.execute(sql).fetchone()
        return None if row is None else row[0]


@dataclass(frozen=True, slots=True)
class ReplicatedPair:
    """A primary and its streaming replica, both serving the database `paycore`."""

    primary: Server
    replica: Server
    started_s: float
    """How long starting both (initdb, base backup, two starts) took."""

    def wait_replayed(self, timeout_s: float = REPLAY_TIMEOUT_S) -> None:
        """Block until the replica has replayed everything the primary wrote so far."""
        target = self.primary.scalar("SELECT pg_current_wal_lsn()")
        self._wait(f"pg_last_wal_replay_lsn() >= '{target}'::pg_lsn", "replay", timeout_s)

    def wait_received(self, timeout_s: float = REPLAY_TIMEOUT_S) -> None:
        """Block until the replica has received (not necessarily replayed) the primary's WAL
        so far: with replay paused, it then knows it is behind."""
        target = self.primary.scalar("SELECT pg_current_wal_lsn()")
        self._wait(f"pg_last_wal_receive_lsn() >= '{target}'::pg_lsn", "receive", timeout_s)

    def pause_replay(self) -> None:
        self.replica.scalar("SELECT pg_wal_replay_pause()")
        self._wait("pg_get_wal_replay_pause_state() = 'paused'", "pause", REPLAY_TIMEOUT_S)

    def resume_replay(self) -> None:
        self.replica.scalar("SELECT pg_wal_replay_resume()")

    def _wait(self, condition: str, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.replica.connect() as conn:
            while conn.execute(f"SELECT {condition}").fetchone() != (True,):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica did not {what} within {timeout_s} s")
                time.sleep(POLL_S)


@pytest.fixture(scope="session")
def replica_pair() -> Iterator[ReplicatedPair]:
    """A migrated primary and its replica for the whole session (skipped on SQLite): the
    migrations run on the primary and reach the replica by replication."""
    if not ON_POSTGRES:
        pytest.skip("needs PAYCORE_DATABASE_URL=postgresql (a streaming replica of PostgreSQL)")
    with replicated_pair() as pair:
        upgrade(pair.primary.url())
        pair.wait_replayed()
        log.info("primary and replica up in %.2f s, migrated and replayed", pair.started_s)
        yield pair


@contextlib.contextmanager
def replicated_pair() -> Iterator[ReplicatedPair]:
    """Start a private primary (with database `paycore`) and a streaming replica of it;
    stop and remove both on exit, however the block ends."""
    bin_dir = _bin_dir()
    _remove_abandoned(bin_dir)
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix=_PREFIX))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        (root / _OWNER_FILE).write_text(str(os.getpid()))
        _give_to_postgres(root)
        primary = Server("primary", _free_port(), root / "primary")
        _run(bin_dir / "initdb", "-D", primary.data_dir, "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        _start(bin_dir, primary, root, stack)
        with primary.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        replica = Server("replica", _free_port(), root / "replica")
        _run(bin_dir / "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port),
             "-U", "postgres", "-D", replica.data_dir, "-R", "-X", "stream",
             "-c", "fast", "--no-sync")  # fmt: skip
        _start(bin_dir, replica, root, stack)
        yield ReplicatedPair(primary, replica, started_s=time.monotonic() - began)


def _start(bin_dir: Path, server: Server, root: Path, stack: contextlib.ExitStack) -> None:
    log = root / f"{server.name}.log"
    options = f"-p {server.port} -k {root} {_SETTINGS}"
    stack.callback(_stop, bin_dir, server.data_dir)  # also if the start fails half-way
    try:
        _run(bin_dir / "pg_ctl", "-D", server.data_dir, "-l", log, "-o", options,
             "-w", "-t", str(START_TIMEOUT_S), "start")  # fmt: skip
    except RuntimeError as error:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{error}\n{server.name}'s log:\n{tail}") from error


def _stop(bin_dir: Path, data_dir: Path) -> None:
    if (data_dir / "postmaster.pid").exists():
        # Immediate: the clusters are thrown away, nothing needs a clean checkpoint.
        _run(bin_dir / "pg_ctl", "-D", data_dir, "-m", "immediate", "-w", "stop", check=False)


def _remove_abandoned(bin_dir: Path) -> None:
    """Stop and remove the clusters of test runs that died before their teardown."""
    for owner_file in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*/{_OWNER_FILE}"):
        if _alive(int(owner_file.read_text() or "0")):
            continue  # another test session, still running
        for data_dir in owner_file.parent.iterdir():
            if (data_dir / "postmaster.pid").exists():
                _stop(bin_dir, data_dir)
        shutil.rmtree(owner_file.parent, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def _bin_dir() -> Path:
    """The newest installed PostgreSQL's server programs (initdb is not on PATH on Debian)."""
    configured = os.environ.get("PAYCORE_PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path is None:
        raise RuntimeError("no initdb found: install postgresql or set PAYCORE_PG_BIN")
    return Path(on_path).parent


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the postgres OS user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _give_to_postgres(root: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")


def _run(*argv: object, check: bool = True) -> None:
    # A PGDATA, PGPORT or PGHOST of the caller must not redirect the programs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    done = subprocess.run(
        [*_as_postgres(), *map(str, argv)],
        env=env,
        cwd=tempfile.gettempdir(),  # runuser keeps the cwd; postgres may not read ours
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=START_TIMEOUT_S * 2,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{Path(str(argv[0])).name} failed: {done.stderr.strip()}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
