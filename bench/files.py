"""What encrypting a kept file costs: seal and open throughput (MB/s) and CPU per MB.

A file of random bytes (incompressible, like a statement's ciphertext would be to any
later layer) in a temporary folder, sealed with security/files.py (a fresh data key,
AES-256-GCM in 64 KiB chunks) and read back, against a plain copy and a plain read of the
same file as the floor. CPU is `time.process_time` around each step (this process only).
The machine is shared: read CPU per MB, not the rates alone; each row is the median of
`--rounds` runs.

    .venv/bin/python bench/files.py                  # 64 MiB, 5 rounds, a few seconds
    .venv/bin/python bench/files.py --mib 256 --rounds 3 --markdown
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from paycore.security import files
from paycore.security.crypto import FieldCipher, new_field_key

KIND = "bench"
BLOCK = 1 << 20


def _random_file(path: Path, mib: int) -> None:
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(BLOCK))


def _measure(step: Callable[[], object], rounds: int) -> tuple[float, float]:
    """(median wall s, median CPU s) of `rounds` runs of `step`."""
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _read_plain(path: Path) -> int:
    with path.open("rb") as source:
        return sum(len(block) for block in iter(lambda: source.read(files.CHUNK_BYTES), b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    cipher = FieldCipher({"b1": base64.b64decode(new_field_key())}, "b1")
    folder = Path(tempfile.mkdtemp(prefix="paycore-bench-files-"))
    try:
        clear, sealed, copy = folder / "clear", folder / "sealed", folder / "copy"
        _random_file(clear, args.mib)
        steps: dict[str, Callable[[], object]] = {
            "plain copy (floor)": lambda: shutil.copyfile(clear, copy),
            "seal (encrypt to file)": lambda: files.seal_file(clear, sealed, cipher, kind=KIND),
            "plain read (floor)": lambda: _read_plain(clear),
            "open (decrypt, streamed)": lambda: sum(
                len(c) for c in files.iter_clear(sealed, cipher, kind=KIND)
            ),
        }
        rows = []
        for name, step in steps.items():
            wall, cpu = _measure(step, args.rounds)
            rows.append((name, args.mib / wall, cpu * 1000 / args.mib))
        overhead = sealed.stat().st_size - clear.stat().st_size
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _print(rows, args, overhead)


def _print(rows: list[tuple[str, float, float]], args: argparse.Namespace, overhead: int) -> None:
    title = f"{args.mib} MiB, median of {args.rounds}; size overhead {overhead} bytes"
    if args.markdown:
        print(f"{title}\n\n| step | MB/s | CPU ms per MB |\n|---|---:|---:|")
        for name, rate, cpu in rows:
            print(f"| {name} | {rate:,.0f} | {cpu:.2f} |")
        return
    print(title)
    print(f"{'step':<28}{'MB/s':>10}{'CPU ms/MB':>12}")
    for name, rate, cpu in rows:
        print(f"{name:<28}{rate:>10,.0f}{cpu:>12.2f}")


if __name__ == "__main__":
    main()
