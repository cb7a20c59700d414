"""AML vocabulary: reasons, subject scores, alerts and the scoring formula. Pure.

A rule (rules.py, the SQL in rules/) finds *reasons*: one finding about one subject, with
the facts that made it fire and the transactions behind it. Scoring folds a subject's
reasons into one integer score; a score at or above the threshold is an `Alert`, which the
cases workflow (cases*.py) opens a case for.

Scoring formula (integer points, capped at `SCORE_MAX`):

    score(subject) = min(SCORE_MAX, sum over rules r that fired on the subject of
                         max weight of r's reasons
                         + REPEAT_POINTS * min(REPEAT_MAX, number of r's reasons - 1))

A reason's weight is its rule's base points plus a severity bonus (rules.py). Every term is
non-negative, so adding a reason never lowers a score and a subject without reasons
scores 0; one rule cannot win an alert by repeating itself beyond `REPEAT_MAX`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

SCORE_MAX = 100
REPEAT_POINTS = 5
REPEAT_MAX = 3
TRANSACTION_IDS_MAX = 20
"""Transactions kept per reason; `transaction_count` says how many there were."""


class SubjectType(StrEnum):
    MERCHANT = "merchant"
    """A merchant (its id; also the ledger owner of its wallet)."""
    OWNER = "owner"
    """A wallet owner: a merchant's user, ledger owner `<merchant_id>:<owner>`."""
    PAYER = "payer"
    """A payer of pay-ins: the blind token of their ID number, else of their phone."""


class Typology(StrEnum):
    FAN_IN = "fan_in"
    FAN_OUT = "fan_out"
    PASS_THROUGH = "pass_through"
    STRUCTURING = "structuring"
    REFUND_ABUSE = "refund_abuse"
    CYCLE = "cycle"
    ODD_HOURS = "odd_hours"
    VOLUME_CHANGE = "volume_change"
    MANY_CARDS = "many_cards"


def subject_type_of_owner(owner_id: str) -> SubjectType:
    """A ledger owner is a merchant's wallet (`mch_..`) or one of its users (`mch_..:u`)."""
    return SubjectType.OWNER if ":" in owner_id else SubjectType.MERCHANT


@dataclass(frozen=True)
class Words:
    en: str
    zh: str


@dataclass(frozen=True)
class Reason:
    rule: str
    typology: Typology
    subject_type: SubjectType
    subject_id: str
    words: Words
    weight: int
    transaction_ids: tuple[str, ...]
    """At most `TRANSACTION_IDS_MAX` of them, the largest or earliest first."""
    transaction_count: int
    facts: Mapping[str, int | float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubjectScore:
    subject_type: SubjectType
    subject_id: str
    score: int
    reasons: tuple[Reason, ...]

    @property
    def typologies(self) -> frozenset[Typology]:
        return frozenset(r.typology for r in self.reasons)


@dataclass(frozen=True)
class Alert:
    """A subject whose score reached the threshold: what a case is opened for."""

    subject_type: SubjectType
    subject_id: str
    score: int
    threshold: int
    reasons: tuple[Reason, ...]

    @property
    def key(self) -> str:
        """Stable across runs: one open case per subject, whatever the reasons."""
        return f"{self.subject_type.value}:{self.subject_id}"


def score_of(reasons: Iterable[Reason]) -> int:
    """The scoring formula of the module doc, over one subject's reasons."""
    by_rule: dict[str, list[int]] = defaultdict(list)
    for reason in reasons:
        by_rule[reason.rule].append(max(0, reason.weight))
    total = 0
    for weights in by_rule.values():
        total += max(weights) + REPEAT_POINTS * min(REPEAT_MAX, len(weights) - 1)
    return min(SCORE_MAX, total)


def score_subjects(reasons: Iterable[Reason]) -> list[SubjectScore]:
    """Every subject with a reason, highest score first (ties by subject for a stable order)."""
    grouped: dict[tuple[SubjectType, str], list[Reason]] = defaultdict(list)
    for reason in reasons:
        grouped[(reason.subject_type, reason.subject_id)].append(reason)
    scores = [
        SubjectScore(kind, subject, score_of(found), tuple(sorted(found, key=_reason_order)))
        for (kind, subject), found in grouped.items()
    ]
    scores.sort(key=lambda s: (-s.score, s.subject_type.value, s.subject_id))
    return scores


def _reason_order(reason: Reason) -> tuple[int, str]:
    return (-reason.weight, reason.rule)


def alerts_of(scores: Iterable[SubjectScore], *, threshold: int) -> list[Alert]:
    return [
        Alert(s.subject_type, s.subject_id, s.score, threshold, s.reasons)
        for s in scores
        if s.score >= threshold
    ]
