"""The receiver started by the launcher stops with its parent, even when the parent is
killed with SIGKILL (it holds a lifeline, `paycore.platform.lifeline`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from paycore.sandbox_finance import launcher
from tests.finance.conftest_push import free_port

PARENT = """
import sys, time
from pathlib import Path
from paycore.sandbox_finance import launcher
child = launcher.start_receiver(Path(sys.argv[1]), port=int(sys.argv[2]))
print(child.pid, flush=True)
time.sleep(60)
"""


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return True
    return state == "Z"  # exited; its new parent has not reaped it yet


def test_the_receiver_stops_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-c", PARENT, str(tmp_path), str(port)]
    with subprocess.Popen(command, stdout=subprocess.PIPE) as parent:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert launcher.is_answering(f"http://127.0.0.1:{port}")
        os.kill(parent.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not gone(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(child_pid)
    assert not launcher.is_answering(f"http://127.0.0.1:{port}")
