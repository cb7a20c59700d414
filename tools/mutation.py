"""`make mutation`: how much of each money rule the tests pin down (mutmut 3).

    python tools/mutation.py                       every rule module, a table of scores
    python tools/mutation.py payments/model        one module (any part of its path)
    python tools/mutation.py split --survivors     and print each surviving mutant's diff

Each module runs in its own work directory under var/mutation/<module>/ (mutmut keeps its
configuration in pyproject.toml, and each module has its own tests), on SQLite, bounded
by --budget seconds; a module that runs out of time is reported with what it finished.

Score = killed / (killed + survived + reached by no test). A survivor that only changes
the text of a Rejected(...) message counts as killed when a test asserts that error's
stable code (tools/mutation_survivors.py says how that is decided). Lines marked
`# pragma: no mutate: equivalent, <why>` are not mutated; the table counts them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_survivors import Survivor, asserted_codes, survivors
from mutation_targets import Target, by_name

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "mutation"
TIMED_OUT = {36, -24, 24, 152, 255}  # the mutant looped: counted as killed, and shown
KILLED = {1, 3} | TIMED_OUT
console = Console(stderr=True)


@dataclass
class Score:
    module: str
    why: str
    mutants: int = 0
    killed: int = 0
    timed_out: int = 0
    message_only: int = 0
    survived: int = 0
    no_tests: int = 0
    not_run: int = 0
    equivalent_lines: int = 0
    seconds: float = 0.0
    finished: bool = True
    survivor_diffs: list[str] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        judged = self.killed + self.message_only + self.survived + self.no_tests
        return (self.killed + self.message_only) / judged if judged else None


def _pyproject(target: Target) -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pytest_ini = project["tool"]["pytest"]["ini_options"]
    lines = ["[tool.pytest.ini_options]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in pytest_ini.items() if k != "testpaths"]
    lines += [
        "",
        "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {json.dumps(['src/paycore/' + target.module])}",
        f"pytest_add_cli_args_test_selection = {json.dumps([t for t in target.tests])}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]',
        "use_git_change_detection = false",
        # Generous: a test's setup (a database per test) is not in mutmut's estimate, and
        # on a busy machine a mutant declared "timed out" would be a false kill.
        "timeout_multiplier = 10.0",
        "timeout_constant = 30.0",
    ]
    return "\n".join(lines) + "\n"


def _prepare(target: Target) -> Path:
    work = WORK / target.slug
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in ("src", "tests"):
        (work / name).symlink_to(ROOT / name)
    (work / "pyproject.toml").write_text(_pyproject(target))
    return work


def _run_mutmut(work: Path, budget_s: float, jobs: int) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "PAYCORE_DATABASE_URL"}
    mutmut = Path(sys.executable).parent / "mutmut"
    with (work / "mutmut.log").open("w") as log:
        proc = subprocess.Popen(
            [str(mutmut), "run", "--max-children", str(jobs)],
            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            return proc.wait(timeout=budget_s) == 0
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            return False


def _exit_codes(work: Path, target: Target) -> dict[str, int | None]:
    meta = work / "mutants" / "src" / "paycore" / (target.module + ".meta")
    if not meta.exists():
        return {}
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return codes


def _equivalent_lines(target: Target) -> int:
    text = (ROOT / "src" / "paycore" / target.module).read_text()
    return text.count("# pragma: no mutate: equivalent")


def measure(target: Target, *, budget_s: float, jobs: int, codes: set[str]) -> Score:
    started = time.monotonic()
    work = _prepare(target)
    finished = _run_mutmut(work, budget_s, jobs)
    score = Score(target.module, target.why, equivalent_lines=_equivalent_lines(target))
    exit_codes = _exit_codes(work, target)
    score.mutants = len(exit_codes)
    left: dict[str, int | None] = {}
    for name, code in exit_codes.items():
        if code in KILLED:
            score.killed += 1
            score.timed_out += code in TIMED_OUT
        elif code in (5, 33):
            score.no_tests += 1
            left[name] = code
        elif code is None or code in (2, 34):
            score.not_run += 1
        else:
            left[name] = code
    found: list[Survivor] = survivors(work, target.module, left, codes)
    for s in found:
        if s.message_only:
            score.message_only += 1
        elif s.no_tests:
            pass
        else:
            score.survived += 1
        if not s.message_only:
            score.survivor_diffs.append(s.describe())
    (work / "survivors.txt").write_text("\n".join(s.describe() for s in found) + "\n")
    score.finished = finished and score.not_run == 0
    score.seconds = time.monotonic() - started
    (work / "score.json").write_text(json.dumps(asdict(score), indent=2))
    return score


def last_score(target: Target) -> Score | None:
    """The score of the last run of this module, if it ran."""
    path = WORK / target.slug / "score.json"
    return Score(**{"timed_out": 0, **json.loads(path.read_text())}) if path.exists() else None


def _table(scores: list[Score]) -> Table:
    table = Table(title="mutation score per rule module (mutmut 3.8.1, SQLite)")
    for name in ("module", "holds", "mutants", "killed", "of which timed out", "message only",
                 "survived", "no test", "equivalent lines", "score", "seconds"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("module", "holds") else "right")
    for s in scores:
        pct = "—" if s.score is None else f"{s.score:.1%}"
        mark = "" if s.finished else " (unfinished)"
        style = "green" if s.score is not None and s.score >= 0.9 else "red"
        table.add_row(
            s.module, s.why, str(s.mutants), str(s.killed), str(s.timed_out), str(s.message_only),
            str(s.survived), str(s.no_tests), str(s.equivalent_lines),
            f"[{style}]{pct}[/]{mark}", f"{s.seconds:.0f}",
        )  # fmt: skip
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="parts of module paths (default: all)")
    parser.add_argument("--budget", type=float, default=900, help="seconds per module")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--survivors", action="store_true", help="print surviving diffs")
    parser.add_argument("--json", type=Path, help="also write the scores here")
    parser.add_argument("--table", action="store_true", help="the last runs' table, no run")
    args = parser.parse_args()
    targets = by_name(args.modules)
    codes = asserted_codes(ROOT / "tests")
    scores: list[Score] = []
    if args.table:
        scores = [s for s in map(last_score, targets) if s is not None]
        targets = []
    with console.status("") as status:
        for i, target in enumerate(targets, 1):
            status.update(f"[{i}/{len(targets)}] mutating {target.module} …")
            scores.append(measure(target, budget_s=args.budget, jobs=args.jobs, codes=codes))
            s = scores[-1]
            console.log(f"{s.module}: {s.killed + s.message_only}/{s.mutants} killed "
                        f"in {s.seconds:.0f} s")  # fmt: skip
    if args.survivors:
        for s in scores:
            for diff in s.survivor_diffs:
                print(diff)
    Console(width=200).print(_table(scores))
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in scores], indent=2))
    below = [s.module for s in scores if s.score is None or s.score < 0.9 or not s.finished]
    if below:
        console.print(f"below 90% or unfinished: {', '.join(below)}")
    return 1 if below else 0


if __name__ == "__main__":
    raise SystemExit(main())
