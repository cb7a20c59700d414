"""CPU time of processes from /proc (Linux), so a benchmark can report CPU per operation: on
a machine shared with other jobs a rate is noise, the CPU an operation costs is not.

A group names how to find its processes (a process and its descendants, PostgreSQL's
backends of one database); they are looked up again at each reading, so a worker or a
backend that starts during the run counts from zero.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

PidFinder = Callable[[], list[int]]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class Cpu:
    user_s: float = 0.0
    system_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.user_s + self.system_s

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.user_s + other.user_s, self.system_s + other.system_s)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.user_s - other.user_s, self.system_s - other.system_s)


def process_cpu(pid: int) -> Cpu | None:
    """User and system time of every thread of a process so far; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return Cpu(int(fields[11]) / _TICK, int(fields[12]) / _TICK)


def descendants(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn's workers, multiprocessing's helpers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo += map(int, (task / "children").read_text().split())
    return found


def postgres_backends(database: str) -> PidFinder:
    """The PostgreSQL server processes serving connections to `database`."""

    def find() -> list[int]:
        pids = []
        marker = f" {database} ".encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    cmdline = (entry / "cmdline").read_bytes()
                    if cmdline.startswith(b"postgres:") and marker in cmdline:
                        pids.append(int(entry.name))
        return pids

    return find


def machine_cpu_s() -> float:
    """Busy CPU seconds of the whole machine (every CPU, idle and iowait left out)."""
    try:
        jiffies = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    return (sum(jiffies) - jiffies[3] - jiffies[4]) / _TICK


MACHINE = "whole machine"


class CpuMeter:
    """CPU spent by each group of processes from construction to `spent()`."""

    def __init__(self, groups: Mapping[str, PidFinder]) -> None:
        self.groups = dict(groups)
        self.before = self._read()
        self.machine_before = machine_cpu_s()

    def _read(self) -> dict[str, dict[int, Cpu]]:
        readings: dict[str, dict[int, Cpu]] = {}
        for name, find in self.groups.items():
            readings[name] = {}
            for pid in find():
                cpu = process_cpu(pid)
                if cpu is not None:
                    readings[name][pid] = cpu
        return readings

    def spent(self) -> dict[str, Cpu]:
        """CPU per group since the start, and MACHINE: every process on the machine (user
        and system together). A process gone before this reading is not counted."""
        after = self._read()
        spent = {
            name: sum((cpu - self.before[name].get(pid, Cpu()) for pid, cpu in pids.items()), Cpu())
            for name, pids in after.items()
        }
        spent[MACHINE] = Cpu(machine_cpu_s() - self.machine_before)
        return spent
