"""AML use cases: score a warehouse, list its alerts.

`score_warehouse` is what the cases workflow calls: it reads the Parquet warehouse only
(never the database), so it can run on a replica's export or a copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from paycore.aml import params as aml_params
from paycore.aml.model import Alert, Reason, SubjectScore, alerts_of, score_subjects
from paycore.aml.rules import RULE_NAMES, open_warehouse, prepare, run_rule
from paycore.errors import Rejected


@dataclass(frozen=True)
class ScoringResult:
    scores: tuple[SubjectScore, ...]
    """Every subject with a reason, highest score first."""
    alerts: tuple[Alert, ...]
    threshold: int
    seconds_by_step: dict[str, float] = field(default_factory=dict)
    """`prepare`, then each rule, in the order run."""

    @property
    def seconds(self) -> float:
        return sum(self.seconds_by_step.values())


def score_warehouse(
    root: Path,
    *,
    params: aml_params.Params | None = None,
    rules: tuple[str, ...] = RULE_NAMES,
    threads: int | None = None,
) -> ScoringResult:
    """Run `rules` over the warehouse at `root` and score every subject they name."""
    if not root.is_dir():
        raise Rejected("warehouse_not_found", f"no warehouse directory at {root}")
    unknown = sorted(set(rules) - set(RULE_NAMES))
    if unknown:
        raise Rejected("aml_rule_unknown", f"unknown rules: {', '.join(unknown)}")
    chosen = params if params is not None else aml_params.load()
    seconds: dict[str, float] = {}
    reasons: list[Reason] = []
    with open_warehouse(root, threads=threads) as con:
        started = time.perf_counter()
        prepare(con)
        seconds["prepare"] = time.perf_counter() - started
        for rule in rules:
            run = run_rule(con, rule, chosen)
            seconds[rule] = run.seconds
            reasons.extend(run.reasons)
    scores = score_subjects(reasons)
    threshold = chosen.scoring.threshold
    return ScoringResult(
        scores=tuple(scores),
        alerts=tuple(alerts_of(scores, threshold=threshold)),
        threshold=threshold,
        seconds_by_step=seconds,
    )


def alerts(root: Path, *, params: aml_params.Params | None = None) -> list[Alert]:
    """The alerts of a warehouse: subjects scoring at or above the threshold."""
    return list(score_warehouse(root, params=params).alerts)
