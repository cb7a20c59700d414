"""Child processes that stop with their parent, however the parent ends.

    process = start_child([sys.executable, "-m", "paycore.cli", "sandbox-bank", ...])
    ...
    stop_child(process)

The parent keeps the write end of a pipe (its "lifeline") for as long as it lives; the
child gets the read end, named in PAYCORE_LIFELINE_FD, and `stop_with_parent()` (called by
`paycore`'s entry point) watches it from a thread. Nothing is ever written: when the parent
ends for any reason (exit, SIGTERM, SIGINT, SIGKILL, a crash) the kernel closes its
descriptors, the child's read returns end-of-file, and the child sends itself SIGTERM (a
server shuts down gracefully), then exits hard if it is still there after a grace period.

Why a pipe rather than the alternatives:
- `prctl(PR_SET_PDEATHSIG)` is Linux only, and fires when the *thread* that started the
  child ends, not the process: a child started from a worker thread dies with the thread.
- polling `os.getppid()` notices late (a poll period) and is fooled by a subreaper.
- a pipe closes at the instant the parent is gone on every POSIX system, costs one idle
  thread, and its write end is not inherited by the child nor by other children (Python's
  descriptors are close-on-exec), so only the parent holds the child's life.
A parent that `fork()`s without exec (multiprocessing's "fork" start method) would hand its
write end to the fork; paycore's servers use "spawn".
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from paycore.text import is_ascii_digits

LIFELINE_ENV = "PAYCORE_LIFELINE_FD"
GRACE_S = 5.0
"""How long a child whose parent is gone may take to shut down before it exits hard."""
STOP_TIMEOUT_S = 10.0

_lifelines: dict[int, int] = {}  # child pid -> write end held by this process
_lock = threading.Lock()


def start_child(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """`subprocess.Popen(command, **popen)` with a lifeline: the child (a `paycore`
    command) stops when this process ends, or when `stop_child` is called."""
    read_fd, write_fd = os.pipe()
    try:
        child_env = {**(os.environ if env is None else env), LIFELINE_ENV: str(read_fd)}
        process: subprocess.Popen[bytes] = subprocess.Popen(
            command, env=child_env, pass_fds=(read_fd,), **popen
        )
    except BaseException:
        os.close(write_fd)
        raise
    finally:
        os.close(read_fd)
    with _lock:
        _lifelines[process.pid] = write_fd
    return process


def stop_child(process: subprocess.Popen[bytes], *, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, wait up to `timeout_s`, then SIGKILL; and let go of its lifeline."""
    try:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        with _lock:
            write_fd = _lifelines.pop(process.pid, None)
        if write_fd is not None:
            os.close(write_fd)


def stop_with_parent() -> None:
    """In a child started by `start_child`: stop when the parent ends. A no-op otherwise.
    The variable is removed so that this process's own children do not watch our parent."""
    fd_text = os.environ.pop(LIFELINE_ENV, "")
    if not is_ascii_digits(fd_text):
        return
    thread = threading.Thread(target=_watch, args=(int(fd_text),), name="lifeline", daemon=True)
    thread.start()


def _watch(fd: int) -> None:
    with contextlib.suppress(OSError):  # a closed or bad descriptor: the parent is gone too
        while os.read(fd, 64):  # the parent never writes; b"" is end-of-file
            pass
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    os._exit(1)
