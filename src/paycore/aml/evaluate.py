"""Precision and recall of the rules against a synthetic marketplace's planted labels.

A subject is *flagged* for a typology when it alerts (score >= threshold) with a reason
of that typology. Per typology: precision = flagged and planted with it / flagged;
recall = flagged and planted with it / planted with it. Overall: the same over
(subject, typology) pairs. The goal, per typology: recall >= 0.9 at precision >= 0.8.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from paycore.aml.model import Typology
from paycore.aml.params import Params
from paycore.aml.service import ScoringResult, score_warehouse
from paycore.aml.synth import TRANSFERS_DEFAULT, Generated, generate

RECALL_GOAL = 0.9
PRECISION_GOAL = 0.8
OVERALL = "overall"

Pair = tuple[str, str, str]
"""(typology, subject_type, subject_id)."""


@dataclass(frozen=True)
class Measure:
    typology: str
    planted: int
    flagged: int
    hits: int

    @property
    def precision(self) -> float:
        return self.hits / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.hits / self.planted if self.planted else 1.0

    @property
    def meets_goal(self) -> bool:
        return self.recall >= RECALL_GOAL and self.precision >= PRECISION_GOAL


@dataclass(frozen=True)
class Evaluation:
    measures: tuple[Measure, ...]
    """One per typology, then the overall one."""
    generated: Generated
    scoring: ScoringResult
    generation_s: float

    @property
    def meets_goal(self) -> bool:
        return all(m.meets_goal for m in self.measures if m.typology != OVERALL)

    @property
    def missed(self) -> tuple[str, ...]:
        return tuple(m.typology for m in self.measures if not m.meets_goal)


def planted_pairs(labels: Path) -> set[Pair]:
    table = pq.read_table(labels).to_pylist()
    return {(r["typology"], r["subject_type"], r["subject_id"]) for r in table}


def flagged_pairs(scoring: ScoringResult) -> set[Pair]:
    return {
        (reason.typology.value, alert.subject_type.value, alert.subject_id)
        for alert in scoring.alerts
        for reason in alert.reasons
    }


def measure(planted: set[Pair], flagged: set[Pair]) -> tuple[Measure, ...]:
    measures = [
        Measure(
            t.value,
            planted=sum(1 for p in planted if p[0] == t.value),
            flagged=sum(1 for p in flagged if p[0] == t.value),
            hits=sum(1 for p in flagged & planted if p[0] == t.value),
        )
        for t in Typology
    ]
    measures.append(Measure(OVERALL, len(planted), len(flagged), len(planted & flagged)))
    return tuple(measures)


def evaluate(
    *,
    transfers: int = TRANSFERS_DEFAULT,
    seed: int = 1,
    workdir: Path | None = None,
    params: Params | None = None,
) -> Evaluation:
    """Generate a marketplace (in `workdir`, else a temporary one), score it, measure."""
    with tempfile.TemporaryDirectory(prefix="paycore-aml-") as scratch:
        out = workdir if workdir is not None else Path(scratch)
        started = time.perf_counter()
        generated = generate(out, transfers=transfers, seed=seed)
        generation_s = time.perf_counter() - started
        scoring = score_warehouse(generated.warehouse, params=params or Params())
        measures = measure(planted_pairs(generated.labels), flagged_pairs(scoring))
    return Evaluation(measures, generated, scoring, generation_s)
