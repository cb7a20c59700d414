"""PostgreSQL's backup and restore programs, run for paycore: a WAL streamer
(`pg_receivewal`), a base backup with its manifest (`pg_basebackup`, `pg_verifybackup`),
and a temporary postmaster that recovers a copy of the backup.

Nothing here changes the source server's configuration: `pg_receivewal` streams WAL over a
replication connection (the server needs no archive_mode, only a `replication` line in
pg_hba.conf, which initdb writes for local connections), through a replication slot of its
own so the server keeps the WAL until it is received; the slot is dropped when the backup
ends.

The temporary cluster listens on a Unix socket only, in a folder only its owner may enter,
with `trust` for local connections: a restored copy of the ledger is never reachable over
the network while it is checked. PostgreSQL refuses to run as root: run as root, the
server programs run as the `postgres` OS user, which then owns the copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from paycore.dr.model import PROCESS_TIMEOUT_S, RECOVERY_TIMEOUT_S, Target
from paycore.errors import Rejected

_PREFIX = "paycore-dr-"
_STOP_TIMEOUT_S = 30.0
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def bin_dir() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps initdb and pg_ctl off PATH);
    PAYCORE_PG_BIN overrides."""
    configured = os.environ.get("PAYCORE_PG_BIN")
    if configured:
        return Path(configured)
    found = list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return max(found, key=lambda p: int(p.parts[-3])).parent
    on_path = shutil.which("pg_ctl")
    if on_path is None:
        raise Rejected(
            "postgres_tools_missing", "no pg_ctl: install postgresql or set PAYCORE_PG_BIN"
        )
    return Path(on_path).parent


def _as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    shutil.chown(path, "postgres", "postgres")
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            shutil.chown(os.path.join(folder, name), "postgres", "postgres")


def _conninfo(url: URL, application_name: str = "paycore_dr") -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment carrying it."""
    parts = {
        "host": url.host or str(url.query.get("host", "")),
        "port": str(url.port or url.query.get("port", "") or ""),
        "user": url.username or "",
        "dbname": url.database or "",
        "application_name": application_name,
    }
    conninfo = " ".join(f"{k}={v}" for k, v in parts.items() if v)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _run(argv: list[str], *, env: dict[str, str] | None = None, server: bool = False) -> str:
    command = [*(_as_server_user() if server else []), *argv]
    done = subprocess.run(
        command,
        env=env if env is not None else {k: v for k, v in os.environ.items() if k[:2] != "PG"},
        cwd=tempfile.gettempdir(),  # runuser keeps the cwd, which postgres may not enter
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise Rejected(
            "postgres_tool_failed", f"{Path(argv[0]).name}: {done.stderr.strip()[-2000:]}"
        )
    return done.stdout


class WalStreamer:
    """`pg_receivewal` into `directory` through slot `slot`, until `stop`."""

    def __init__(self, url: str, directory: Path, *, slot: str) -> None:
        self.application_name = slot
        self._slot = slot
        self._directory = directory
        self._conninfo, self._env = _conninfo(make_url(url), application_name=slot)
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        tool = str(bin_dir() / "pg_receivewal")
        self._process = subprocess.Popen(
            [
                tool,
                "-d",
                self._conninfo,
                "-D",
                str(self._directory),
                "--slot",
                self._slot,
                "--synchronous",
                "--no-loop",
                "--no-password",
            ],
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            error = self._process.stderr.read() if self._process.stderr else ""
            raise Rejected("wal_streaming_failed", f"pg_receivewal exited: {error.strip()}")

    def stop(self) -> None:
        """SIGINT: pg_receivewal flushes what it received and exits."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=_STOP_TIMEOUT_S)  # also closes its stderr pipe
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def base_backup(url: str, target: Path) -> dict[str, str]:
    """A fast-checkpoint base backup with its WAL and manifest; its start and end LSN."""
    conninfo, env = _conninfo(make_url(url))
    _run([str(bin_dir() / "pg_basebackup"), "-d", conninfo, "-D", str(target), "-X", "stream",
          "-c", "fast", "--manifest-checksums=CRC32C", "--no-password"], env=env)  # fmt: skip
    manifest = json.loads((target / "backup_manifest").read_text())
    ranges = manifest["WAL-Ranges"]
    return {"start_lsn": ranges[0]["Start-LSN"], "end_lsn": ranges[-1]["End-LSN"]}


def verify(base: Path) -> None:
    """pg_verifybackup: every file against the manifest, and the WAL the backup needs."""
    if not (base / "backup_manifest").exists():
        raise Rejected("backup_incomplete", f"no backup_manifest in {base}")
    _run([str(bin_dir() / "pg_verifybackup"), str(base)])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Restored:
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, source_url: str) -> str:
        source = make_url(source_url)
        return (
            f"postgresql+psycopg://{source.username or 'postgres'}@/{source.database}"
            f"?host={self.root}&port={self.port}"
        )

    def check_running(self) -> None:
        """Fail with the server's log if the postmaster is gone (recovery failed)."""
        if not (self.data_dir / "postmaster.pid").exists():
            raise Rejected("restore_failed", f"the server stopped:\n{self.log_tail()}")

    def log_tail(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def server_cpu_s(self) -> float:
        """CPU the postmaster and its processes used so far (Linux; 0.0 elsewhere)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        return sum(_cpu_s(p) for p in [pid, *_children(pid)])


Fill = Callable[[Path, Path], None]
"""Puts a backup's data directory and WAL archive at the two (new) paths it is given."""


def copier(base: Path, wal: Path) -> Fill:
    """The Fill of a clear backup: copies of its `base` and `wal` folders."""

    def fill(data_dir: Path, wal_copy: Path) -> None:
        shutil.copytree(base, data_dir)
        wal_copy.mkdir()
        for segment, name in archive_segments(wal):
            shutil.copyfile(segment, wal_copy / name)

    return fill


def archive_segments(wal: Path, suffix: str = "") -> Iterator[tuple[Path, str]]:
    """Each segment of the WAL archive `wal` (files named `<segment>[.partial]<suffix>`)
    and the name recovery reads it under."""
    for segment in sorted(wal.iterdir()) if wal.is_dir() else []:
        if not segment.is_file() or not segment.name.endswith(suffix):
            continue
        # The segment being written when the streamer stopped is kept as .partial; the WAL
        # after its end is zeros, so recovery reads it as the end of the archive.
        name = segment.name.removesuffix(suffix).removesuffix(".partial")
        if name + suffix != segment.name and (wal / (name + suffix)).exists():
            continue  # the streamer completed the segment after all
        yield segment, name


@contextlib.contextmanager
def restored_cluster(fill: Fill, target: Target, point_name: str | None) -> Iterator[Restored]:
    """Fill a private folder (mode 0700) with the backup's data directory and WAL archive,
    recover them to the target in a temporary postmaster, and stop and remove it all on
    exit, however it ends."""
    root = Path(tempfile.mkdtemp(prefix=_PREFIX))
    restored = Restored(root, free_port())
    try:
        fill(restored.data_dir, root / "wal")
        restored.data_dir.chmod(0o700)
        _configure(restored, target, point_name)
        _give_to_server_user(root)
        _start(restored)
        yield restored
    finally:
        _stop(restored)
        shutil.rmtree(root, ignore_errors=True)


def _configure(restored: Restored, target: Target, point_name: str | None) -> None:
    data, root = restored.data_dir, restored.root
    (data / "postgresql.conf").touch()  # a Debian cluster keeps it in /etc, not in the backup
    (data / "pg_hba.conf").write_text("local all all trust\n")
    (data / "recovery.signal").touch()
    settings = {
        "port": str(restored.port),
        "listen_addresses": "",
        "unix_socket_directories": str(root),
        "hba_file": str(data / "pg_hba.conf"),
        "ident_file": str(data / "pg_ident.conf"),
        "archive_mode": "off",
        "ssl": "off",
        "shared_preload_libraries": "",
        "logging_collector": "off",
        "hot_standby": "off",  # nobody reads it before recovery is over
        "restore_command": f'cp "{root / "wal"}/%f" "%p"',
        "recovery_target_action": "promote",
        **_target_settings(target, point_name),
    }
    lines = [f"{k} = '{v}'" for k, v in settings.items()]
    with (data / "postgresql.auto.conf").open("a") as conf:
        conf.write("\n# paycore dr restore-check\n" + "\n".join(lines) + "\n")


def _target_settings(target: Target, point_name: str | None) -> dict[str, str]:
    if target.lsn is not None:
        return {"recovery_target_lsn": target.lsn}
    if target.time is not None:
        return {"recovery_target_time": target.time.isoformat()}
    if point_name is not None:
        return {"recovery_target_name": point_name}
    return {"recovery_target": "immediate"}  # the base backup's own consistent point


def _start(restored: Restored) -> None:
    log = restored.root / "server.log"
    try:
        _run([str(bin_dir() / "pg_ctl"), "-D", str(restored.data_dir), "-l", str(log), "-w",
              "-t", str(int(RECOVERY_TIMEOUT_S)), "start"], server=True)  # fmt: skip
    except Rejected as error:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise Rejected("restore_failed", f"{error.detail}\nserver log:\n{tail}") from error


def _stop(restored: Restored) -> None:
    if (restored.data_dir / "postmaster.pid").exists():
        # Immediate: the copy is thrown away, nothing needs a clean checkpoint.
        with contextlib.suppress(Rejected, subprocess.TimeoutExpired):
            _run([str(bin_dir() / "pg_ctl"), "-D", str(restored.data_dir), "-m", "immediate",
                  "-w", "stop"], server=True)  # fmt: skip


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in task.read_text().split()]
    return found + [grandchild for child in found for grandchild in _children(child)]


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def wait_until(
    condition: Callable[[], bool], *, timeout_s: float, what: str, poll_s: float
) -> None:
    """Poll `condition()` until true, or fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise Rejected("dr_timeout", f"{what} did not happen within {timeout_s} s")
        time.sleep(poll_s)
