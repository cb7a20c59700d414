"""Where a process's CPU goes, from py-spy's raw profiles (`py-spy record --gil -f raw`).

Each line of a raw profile is one stack, root first, frames `function (path:line)` joined by
`;`, then a space and the number of samples. A sample is attributed three ways:

- library: the innermost frame's library, a standard-library frame counting for the
  library that called it (json under starlette is starlette's cost, a lock notified by
  anyio's thread-pool hop is anyio's); asyncio stays itself, it is the event loop. paycore
  frames count per slice (`paycore.payments`, `paycore.ledger`, ...);
- activity: what the thread was doing: the event loop, the thread pool (by endpoint), or a
  background thread (by its target: the ledger writer, the janitor, the relay, ...);
- function: the innermost frame (self) and every paycore function on the stack (inclusive).

Only GIL-holding samples are recorded (`--gil`), so shares are of the Python CPU; the
process CPU measured from /proc (kernel time included) scales them to ms per pay-in.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")
EVENT_LOOP_LIBRARIES = frozenset({"asyncio"})
"""Standard-library modules shown as themselves, not folded into their caller."""
UNKNOWN = "?"
ACTIVITY_LIBRARIES = 5


def split_frame(frame: str) -> tuple[str, str]:
    """`save (paycore/payments/store.py:230)` -> (`save`, `paycore/payments/store.py`)."""
    found = FRAME.match(frame)
    return (found["function"], found["path"]) if found else (frame, UNKNOWN)


def library_of(path: str) -> tuple[str, bool]:
    """The library a source path belongs to, and whether it is the standard library."""
    if path.startswith("<frozen") or path in ("<string>", UNKNOWN):
        return "stdlib", True  # generated code (dataclass __init__, namedtuple) or frozen
    parts = path.split("/")
    top = parts[0].removesuffix(".py")
    if top == "paycore":
        return ("paycore." + parts[1].removesuffix(".py")) if len(parts) > 1 else "paycore", False
    if top in sys.stdlib_module_names:
        return top, top not in EVENT_LOOP_LIBRARIES
    return top, False


def owner_library(frames: Sequence[str]) -> str:
    """The library the innermost frame works for: standard-library frames count for the
    nearest caller outside the standard library."""
    for frame in reversed(frames):
        library, stdlib = library_of(split_frame(frame)[1])
        if not stdlib:
            return library
    return library_of(split_frame(frames[-1])[1])[0]


def activity_of(frames: Sequence[str]) -> str:
    """What the sampled thread was doing, from the root of its stack."""
    root = frames[0]
    if root.startswith("<module>"):
        return "event loop (main thread)"
    if not root.startswith("Thread._bootstrap"):
        return "no Python root (stack cut short, or a native thread)"
    for i, frame in enumerate(frames):
        function, path = split_frame(frame)
        if function == "WorkerThread.run" and path.startswith("anyio/"):
            ours = (f for f in frames[i + 1 :] if split_frame(f)[1].startswith("paycore/"))
            endpoint = next((split_frame(f)[0] for f in ours), "?")
            return f"thread pool: {endpoint}"
        if function == "Thread.run" and path == "threading.py" and i + 1 < len(frames):
            target, target_path = split_frame(frames[i + 1])
            return f"thread: {target} ({library_of(target_path)[0]})"
    return f"thread: {split_frame(frames[min(2, len(frames) - 1)])[0]}"


@dataclass
class Profile:
    """Samples of one or more processes of the same program, counted several ways."""

    samples: int = 0
    libraries: Counter[str] = field(default_factory=Counter)
    leaf_libraries: Counter[str] = field(default_factory=Counter)
    activities: Counter[str] = field(default_factory=Counter)
    activity_libraries: Counter[tuple[str, str]] = field(default_factory=Counter)
    own: Counter[str] = field(default_factory=Counter)
    paycore_inclusive: Counter[str] = field(default_factory=Counter)

    def add(self, frames: Sequence[str], n: int) -> None:
        self.samples += n
        library, activity = owner_library(frames), activity_of(frames)
        self.libraries[library] += n
        self.leaf_libraries[library_of(split_frame(frames[-1])[1])[0]] += n
        self.activities[activity] += n
        self.activity_libraries[activity, library] += n
        self.own[re.sub(r":\d+\)$", ")", frames[-1])] += n
        for function in {re.sub(r":\d+\)$", ")", f) for f in frames if "(paycore/" in f}:
            self.paycore_inclusive[function] += n


def read_profiles(paths: Iterable[Path]) -> Profile:
    profile = Profile()
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            if count.isdigit() and frames:
                profile.add(frames, int(count))
    return profile


def _ms(share: float, cpu_ms: float | None) -> str:
    return f"{share * cpu_ms:.2f}" if cpu_ms is not None else ""


def print_profile(
    console: Console, title: str, profile: Profile, cpu_ms: float | None, rows: int = 15
) -> None:
    """Three tables: by library, by activity (thread), by function. `cpu_ms` is the process
    CPU per pay-in that the shares are scaled to (None: shares only)."""
    if not profile.samples:
        console.print(f"{title}: no samples (py-spy could not attach?)")
        return
    total = profile.samples
    per = f" of {cpu_ms:.1f} CPU ms per pay-in" if cpu_ms is not None else ""
    libraries = Table(title=f"{title}: by library ({total:,} GIL-holding samples{per})")
    libraries.add_column("library (stdlib folded into its caller)")
    libraries.add_column("share", justify="right")
    libraries.add_column("≈ ms/pay-in", justify="right")
    libraries.add_column("innermost frame's library")
    libraries.add_column("share", justify="right")
    folded = profile.libraries.most_common(rows)
    leaf = profile.leaf_libraries.most_common(rows)
    for i in range(max(len(folded), len(leaf))):
        name, n = folded[i] if i < len(folded) else ("", 0)
        leaf_name, leaf_n = leaf[i] if i < len(leaf) else ("", 0)
        libraries.add_row(
            name,
            f"{n / total:.1%}" if name else "",
            _ms(n / total, cpu_ms) if name else "",
            leaf_name,
            f"{leaf_n / total:.1%}" if leaf_name else "",
        )
    console.print(libraries)
    activities = Table(title=f"{title}: by thread activity")
    activities.add_column("activity")
    activities.add_column("share", justify="right")
    activities.add_column("≈ ms/pay-in", justify="right")
    activities.add_column("its top libraries (share of all samples)")
    for name, n in profile.activities.most_common(rows):
        inside = sorted(
            ((k[1], m) for k, m in profile.activity_libraries.items() if k[0] == name),
            key=lambda item: -item[1],
        )[:ACTIVITY_LIBRARIES]
        top = ", ".join(f"{lib} {m / total:.1%}" for lib, m in inside)
        activities.add_row(name, f"{n / total:.1%}", _ms(n / total, cpu_ms), top)
    console.print(activities)
    functions = Table(title=f"{title}: by function")
    functions.add_column("self", justify="right")
    functions.add_column("innermost frame")
    functions.add_column("incl.", justify="right")
    functions.add_column("paycore function (inclusive)")
    own = profile.own.most_common(rows)
    inclusive = profile.paycore_inclusive.most_common(rows)
    for i in range(max(len(own), len(inclusive))):
        name, n = own[i] if i < len(own) else ("", 0)
        incl_name, incl_n = inclusive[i] if i < len(inclusive) else ("", 0)
        functions.add_row(
            f"{n / total:.1%}" if name else "",
            name,
            f"{incl_n / total:.1%}" if incl_name else "",
            incl_name,
        )
    console.print(functions)


def main(argv: Sequence[str]) -> int:
    """`python bench/pyspy_report.py FILE... [--cpu-ms X]`: the tables of saved profiles."""
    cpu_ms = None
    paths = list(argv)
    if "--cpu-ms" in paths:
        at = paths.index("--cpu-ms")
        cpu_ms = float(paths[at + 1])
        del paths[at : at + 2]
    print_profile(Console(), "profile", read_profiles(map(Path, paths)), cpu_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
