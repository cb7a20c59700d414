"""Alerts to cases: `open_cases`, idempotent, one unit of work per alert.

The rule (which alert opens, adds to, or leaves alone which case) is `cases_model.decide`.
Two runs at once are safe: the second insert of an active case for a subject, or of an
alert row for a subject and period, fails on its unique key, and that alert is decided
again in a new transaction, which then sees the other run's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from paycore import ids
from paycore.aml import store_cases as store
from paycore.aml.cases_model import (
    AlertFacts,
    CaseAction,
    CaseFacts,
    CaseStatus,
    Decision,
    alerts_to_open,
    check_period,
    decide,
    merge_reasons,
    reason_record,
)
from paycore.aml.model import Alert
from paycore.clock import Clock
from paycore.errors import InvariantViolation

log = logging.getLogger(__name__)

CASE_ID_PREFIX = "amlc"
ATTEMPTS_MAX = 3


class _Raced(Exception):
    """Another writer changed the case between our read and our update."""


@dataclass
class Opening:
    """What one `open_cases` run did: case ids by decision, and counts of the rest."""

    opened: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    suppressed: int = 0
    unchanged: int = 0

    def count(self, decision: Decision, case_id: str | None) -> None:
        if decision is Decision.OPEN_NEW and case_id:
            self.opened.append(case_id)
        elif decision is Decision.ADD and case_id:
            self.added.append(case_id)
        elif decision is Decision.SUPPRESS:
            self.suppressed += 1
        else:
            self.unchanged += 1


def open_cases(
    engine: Engine, clock: Clock, alerts: Iterable[Alert], *, period: str, actor: str = "aml"
) -> Opening:
    period = check_period(period)
    opening = Opening()
    for alert in alerts_to_open(alerts):
        for attempt in range(1, ATTEMPTS_MAX + 1):
            try:
                with store.writing(engine) as conn:
                    decision, case_id = _one(conn, clock.now(), alert, period, actor)
                break
            except (IntegrityError, _Raced):
                if attempt == ATTEMPTS_MAX:
                    raise
        opening.count(decision, case_id)
    log.info(
        "aml cases opened",
        extra={"period": period, "opened": len(opening.opened), "added": len(opening.added)},
    )
    return opening


def _one(
    conn: Connection, now: datetime, alert: Alert, period: str, actor: str
) -> tuple[Decision, str | None]:
    subject = (alert.subject_type.value, alert.subject_id)
    recorded = store.get_alert(conn, *subject, period)
    latest = store.latest_case(conn, *subject)
    typologies = frozenset(r.typology.value for r in alert.reasons)
    facts = AlertFacts(
        period=period,
        score=alert.score,
        typologies=typologies,
        recorded_score=None if recorded is None else int(recorded["score"]),
        recorded_typologies=frozenset(recorded["typologies"]) if recorded else frozenset(),
    )
    decision = decide(facts, _case_facts(conn, latest))
    if decision is Decision.UNCHANGED:
        return decision, None if recorded is None else recorded["case_id"]
    reasons = [reason_record(r, period=period) for r in alert.reasons]
    details = {"period": period, "score": alert.score, "typologies": sorted(typologies)}
    if decision is Decision.OPEN_NEW:
        case_id = _open(conn, now, alert, reasons, details, actor, latest)
    elif decision is Decision.ADD and latest is not None:
        case_id = _add(conn, now, latest, alert.score, typologies, reasons, details, actor)
    elif latest is not None:
        case_id = str(latest["id"])
    else:
        raise InvariantViolation(f"decision {decision} without a case")
    row = {
        "subject_type": subject[0],
        "subject_id": subject[1],
        "period": period,
        "score": max(alert.score, int(recorded["score"]) if recorded else 0),
        "typologies": sorted(typologies | facts.recorded_typologies),
        "outcome": decision.value,
        "case_id": case_id,
        "recorded_at": now,
    }
    store.save_alert(conn, row, exists=recorded is not None)
    return decision, case_id


def _case_facts(conn: Connection, row: dict[str, Any] | None) -> CaseFacts | None:
    if row is None:
        return None
    return CaseFacts(
        status=CaseStatus(row["status"]),
        score=int(row["score"]),
        typologies=frozenset(row["typologies"]),
        periods=store.periods_of(conn, str(row["id"])),
    )


def _open(
    conn: Connection,
    now: datetime,
    alert: Alert,
    reasons: list[dict[str, Any]],
    details: dict[str, Any],
    actor: str,
    previous: dict[str, Any] | None,
) -> str:
    case_id = ids.new_id(CASE_ID_PREFIX)
    store.insert_case(
        conn,
        {
            "id": case_id,
            "subject_type": alert.subject_type.value,
            "subject_id": alert.subject_id,
            "score": alert.score,
            "typologies": details["typologies"],
            "reasons": merge_reasons([], reasons),
            "status": CaseStatus.OPEN.value,
            "opened_at": now,
            "updated_at": now,
            "assignee": None,
            "version": 1,
            "previous_case_id": None if previous is None else previous["id"],
        },
    )
    details = {**details, "previous_case_id": None if previous is None else previous["id"]}
    _event(conn, case_id, 1, now, actor, CaseAction.OPEN, None, CaseStatus.OPEN, details)
    return case_id


def _add(
    conn: Connection,
    now: datetime,
    case: dict[str, Any],
    score: int,
    typologies: frozenset[str],
    reasons: list[dict[str, Any]],
    details: dict[str, Any],
    actor: str,
) -> str:
    version = int(case["version"])
    values = {
        "score": max(score, int(case["score"])),
        "typologies": sorted(typologies | frozenset(case["typologies"])),
        "reasons": merge_reasons(case["reasons"], reasons),
        "updated_at": now,
    }
    if not store.bump(conn, case["id"], version=version, values=values):
        raise _Raced(case["id"])
    status = CaseStatus(case["status"])
    _event(conn, case["id"], version + 1, now, actor, CaseAction.ALERT, status, status, details)
    return str(case["id"])


def _event(
    conn: Connection,
    case_id: str,
    seq: int,
    now: datetime,
    actor: str,
    action: CaseAction,
    from_status: CaseStatus | None,
    to_status: CaseStatus,
    details: dict[str, Any],
) -> None:
    store.append_event(
        conn,
        {
            "case_id": case_id,
            "seq": seq,
            "at": now,
            "actor": actor,
            "action": action.value,
            "from_status": None if from_status is None else from_status.value,
            "to_status": to_status.value,
            "details": details,
            "note_enc": None,
        },
    )
