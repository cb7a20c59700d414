"""AML at scale: generate a synthetic marketplace of N ledger transfers, score it, and
print generation seconds, scoring seconds per rule and in total, CPU seconds and peak RSS.

Goal (issue 16): a full scoring of 10,000,000 transfers in under 5 minutes on this
machine. Generation and scoring each run in their own child process, so each one's CPU
time and peak memory are its own.

    python bench/aml_scoring.py [--transfers 10000000] [--seed 1] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

SCORING_GOAL_S = 300.0


def _usage() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": own.ru_utime + own.ru_stime, "peak_rss_mib": own.ru_maxrss / 1024}


def _step_generate(out: Path, transfers: int, seed: int) -> dict[str, Any]:
    from paycore.aml.synth import generate

    started = time.perf_counter()
    generated = generate(out, transfers=transfers, seed=seed)
    return {
        "wall_s": time.perf_counter() - started,
        "rows": generated.rows,
        "sizes": generated.sizes.__dict__,
        **_usage(),
    }


def _step_score(out: Path) -> dict[str, Any]:
    from paycore.aml.evaluate import flagged_pairs, measure, planted_pairs
    from paycore.aml.params import Params
    from paycore.aml.service import score_warehouse

    started = time.perf_counter()
    scoring = score_warehouse(out / "warehouse", params=Params())
    wall = time.perf_counter() - started
    measures = measure(planted_pairs(out / "labels.parquet"), flagged_pairs(scoring))
    return {
        "wall_s": wall,
        "steps": scoring.seconds_by_step,
        "alerts": len(scoring.alerts),
        "measures": [
            [m.typology, m.planted, m.flagged, m.hits, m.precision, m.recall] for m in measures
        ],
        **_usage(),
    }


def _child(step: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--step", step, "--dir", str(out)]
    command += ["--transfers", str(args.transfers), "--seed", str(args.seed)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {step} step failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _report(gen: dict[str, Any], score: dict[str, Any]) -> None:
    console = Console(width=120)
    table = Table(title=f"AML scoring, {gen['rows']['ledger_transfers']:,} ledger transfers")
    for name in ("step", "wall s", "CPU s", "peak RSS MiB"):
        table.add_column(name, justify="left" if name == "step" else "right")
    table.add_row(
        "generation", f"{gen['wall_s']:.1f}", f"{gen['cpu_s']:.1f}", f"{gen['peak_rss_mib']:.0f}"
    )
    for step, seconds in score["steps"].items():
        table.add_row(f"  score: {step}", f"{seconds:.1f}", "", "")
    verdict = "meets" if score["wall_s"] < SCORING_GOAL_S else "MISSES"
    table.add_row(
        f"scoring total ({verdict} the {SCORING_GOAL_S:.0f} s goal)",
        f"{score['wall_s']:.1f}",
        f"{score['cpu_s']:.1f}",
        f"{score['peak_rss_mib']:.0f}",
    )
    console.print(table)
    quality = Table(title=f"precision / recall ({score['alerts']:,} alerts)")
    for name in ("typology", "planted", "flagged", "hits", "precision", "recall"):
        quality.add_column(name, justify="left" if name == "typology" else "right")
    for typology, planted, flagged, hits, precision, recall in score["measures"]:
        quality.add_row(
            typology, str(planted), str(flagged), str(hits), f"{precision:.3f}", f"{recall:.3f}"
        )
    console.print(quality)
    console.print(f"rows written: {gen['rows']}; sizes: {gen['sizes']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transfers", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated warehouse")
    parser.add_argument("--step", choices=("generate", "score"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "generate":
        print(json.dumps(_step_generate(args.dir, args.transfers, args.seed)))
        return
    if args.step == "score":
        print(json.dumps(_step_score(args.dir)))
        return
    out = args.dir or Path(tempfile.mkdtemp(prefix="paycore-aml-bench-"))
    try:
        gen = _child("generate", out, args)
        score = _child("score", out, args)
        _report(gen, score)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
