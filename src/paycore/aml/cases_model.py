"""AML cases: the workflow's state machine and the rule that turns alerts into cases. Pure.

Workflow (nothing else is reachable; a hypothesis test walks random action sequences):

    open --investigate--> investigating --report--> reported      (needs an STR draft)
                                        --dismiss--> dismissed     (needs a note)

`assign`, `note` and `draft` change no status (`note` is allowed in every status, a case is
annotated after it closes too; `assign` only while it is active; `draft`, the report being
the outcome of an investigation, only while investigating). Every accepted
action bumps the case's version by one and appends one event whose seq is that version.

Alerts to cases (`decide`), per subject (see aml/README.md, "Cases"):

- an active case (open or investigating) takes every new alert of the subject: score is
  the highest seen, typologies and reasons are merged;
- after a *dismissed* case, an alert opens a new case only with a higher score than the
  dismissed case's or a typology it did not have (an analyst already judged the rest);
- after a *reported* case, an alert of a period the report did not cover opens a follow-up
  case (activity that goes on after a report is reported again); one of a covered period
  follows the dismissed rule;
- an alert already recorded for the same subject and period, with no higher score and no
  new typology, changes nothing: running `open_cases` twice is harmless.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from paycore.aml.model import Alert, Reason
from paycore.errors import Rejected

CASES_PAGE_MAX = 500
CASES_PAGE_DEFAULT = 100
ALERTS_PER_RUN_MAX = 100_000
REASONS_PER_CASE_MAX = 200
"""Reasons kept on a case across its alerts (the strongest; each names its transactions)."""
NOTE_LENGTH_MAX = 4000
ASSIGNEE_LENGTH_MAX = 64
ACTOR_LENGTH_MAX = 64
CONCLUSION_LENGTH_MAX = 8000
_PERIOD = re.compile(r"[0-9A-Za-z][0-9A-Za-z._:/-]{0,31}")


class CaseStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    REPORTED = "reported"
    DISMISSED = "dismissed"


class CaseAction(StrEnum):
    OPEN = "open"
    ALERT = "alert"
    INVESTIGATE = "investigate"
    REPORT = "report"
    DISMISS = "dismiss"
    ASSIGN = "assign"
    NOTE = "note"
    DRAFT = "draft"


ACTIVE = frozenset({CaseStatus.OPEN, CaseStatus.INVESTIGATING})
FINAL = frozenset({CaseStatus.REPORTED, CaseStatus.DISMISSED})
TRANSITIONS: Mapping[CaseAction, Mapping[CaseStatus, CaseStatus]] = {
    CaseAction.INVESTIGATE: {CaseStatus.OPEN: CaseStatus.INVESTIGATING},
    CaseAction.REPORT: {CaseStatus.INVESTIGATING: CaseStatus.REPORTED},
    CaseAction.DISMISS: {CaseStatus.INVESTIGATING: CaseStatus.DISMISSED},
}
"""The only status changes there are: action -> {from: to}."""
_STAYS_ACTIVE = (CaseAction.ALERT, CaseAction.ASSIGN)
TRANSITION_ACTIONS = tuple(TRANSITIONS)


@dataclass(frozen=True)
class Step:
    """What an action does to a case: its status before and after."""

    action: CaseAction
    from_status: CaseStatus
    to_status: CaseStatus


def step(
    status: CaseStatus, action: CaseAction, *, has_draft: bool = False, has_note: bool = False
) -> Step:
    """The status after `action`, or Rejected(`case_transition_invalid` and friends)."""
    if action in TRANSITIONS:
        target = TRANSITIONS[action].get(status)
        if target is None:
            allowed = ", ".join(a.value for a in TRANSITIONS if status in TRANSITIONS[a])
            raise Rejected(
                "case_transition_invalid",
                f"a case {status.value} cannot {action.value}; allowed: {allowed or 'none'}",
            )
        if action is CaseAction.REPORT and not has_draft:
            raise Rejected("case_str_missing", "draft the suspicious-transaction report first")
        if action is CaseAction.DISMISS and not has_note:
            raise Rejected("case_note_required", "say why the case is dismissed (a note)")
        return Step(action, status, target)
    if action is CaseAction.DRAFT and status is not CaseStatus.INVESTIGATING:
        raise Rejected("case_transition_invalid", "a report is drafted while investigating")
    if action in _STAYS_ACTIVE and status not in ACTIVE:
        raise Rejected("case_transition_invalid", f"a case {status.value} cannot {action.value}")
    if action is CaseAction.OPEN:
        raise Rejected("case_transition_invalid", "a case is opened only by an alert")
    return Step(action, status, status)


# -- alerts to cases --------------------------------------------------------------------------


class Decision(StrEnum):
    OPEN_NEW = "opened"
    ADD = "added"
    SUPPRESS = "suppressed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class CaseFacts:
    """What `decide` needs of the subject's latest case."""

    status: CaseStatus
    score: int
    typologies: frozenset[str]
    periods: frozenset[str]


@dataclass(frozen=True)
class AlertFacts:
    """An alert as `decide` sees it, and the one recorded before for its subject and period."""

    period: str
    score: int
    typologies: frozenset[str]
    recorded_score: int | None = None
    recorded_typologies: frozenset[str] = frozenset()


def decide(alert: AlertFacts, latest: CaseFacts | None) -> Decision:
    """The rule of the module doc: what an alert does to its subject's cases."""
    if alert.recorded_score is not None and not _stronger(
        alert, alert.recorded_score, alert.recorded_typologies
    ):
        return Decision.UNCHANGED
    if latest is None:
        return Decision.OPEN_NEW
    if latest.status in ACTIVE:
        return Decision.ADD
    if latest.status is CaseStatus.REPORTED and alert.period not in latest.periods:
        return Decision.OPEN_NEW
    if _stronger(alert, latest.score, latest.typologies):
        return Decision.OPEN_NEW
    return Decision.SUPPRESS


def _stronger(alert: AlertFacts, score: int, typologies: frozenset[str]) -> bool:
    return alert.score > score or not alert.typologies <= typologies


def check_period(period: str) -> str:
    if not _PERIOD.fullmatch(period):
        raise Rejected("invalid_period", "a period is 1-32 of 0-9 A-Z a-z . _ : / - (e.g. 2026-11)")
    return period


def alerts_to_open(alerts: Iterable[Alert]) -> list[Alert]:
    """The alerts that reach their threshold, at most ALERTS_PER_RUN_MAX of them."""
    chosen = [a for a in alerts if a.score >= a.threshold]
    if len(chosen) > ALERTS_PER_RUN_MAX:
        raise Rejected("too_many_alerts", f"at most {ALERTS_PER_RUN_MAX} alerts per run")
    return chosen


# -- reasons as kept on a case ----------------------------------------------------------------


def reason_record(reason: Reason, *, period: str) -> dict[str, Any]:
    """A reason as the case's JSON keeps it: words in both languages, its transactions."""
    return {
        "rule": reason.rule,
        "typology": reason.typology.value,
        "words_zh": reason.words.zh,
        "words_en": reason.words.en,
        "weight": reason.weight,
        "transaction_ids": list(reason.transaction_ids),
        "transaction_count": reason.transaction_count,
        "period": period,
    }


def merge_reasons(
    kept: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Both lists, without repeats (same rule, words and transactions), the heaviest first,
    at most REASONS_PER_CASE_MAX."""
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    merged: list[dict[str, Any]] = []
    for record in [*new, *kept]:
        key = (record["rule"], record["words_en"], tuple(record["transaction_ids"]))
        if key not in seen:
            seen.add(key)
            merged.append(dict(record))
    merged.sort(key=lambda r: (-int(r["weight"]), r["rule"]))
    return merged[:REASONS_PER_CASE_MAX]


# -- what is read back ----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    subject_type: str
    subject_id: str
    score: int
    typologies: tuple[str, ...]
    reasons: tuple[Mapping[str, Any], ...]
    status: CaseStatus
    opened_at: datetime
    updated_at: datetime
    assignee: str | None
    version: int
    previous_case_id: str | None = None


@dataclass(frozen=True)
class CaseEvent:
    seq: int
    case_id: str
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    details: Mapping[str, Any]
    note: str | None
    """Opened for a reader allowed to see notes; None without a note or without the right."""
    has_note: bool


def check_text(value: str, *, name: str, length_max: int, required: bool = True) -> str:
    text = value.strip()
    if required and not text:
        raise Rejected(f"case_{name}_required", f"{name} must not be empty")
    if len(text) > length_max:
        raise Rejected("value_too_long", f"{name}: at most {length_max} characters")
    return text
