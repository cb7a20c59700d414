"""The cases workflow as a pure state machine, and the rule that turns alerts into cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.aml.cases_model import (
    ACTIVE,
    TRANSITIONS,
    AlertFacts,
    CaseAction,
    CaseFacts,
    CaseStatus,
    Decision,
    check_period,
    decide,
    merge_reasons,
    step,
)
from paycore.errors import Rejected

EDGES = {(src, dst) for moves in TRANSITIONS.values() for src, dst in moves.items()}
GRAPH = {
    (CaseStatus.OPEN, CaseStatus.INVESTIGATING),
    (CaseStatus.INVESTIGATING, CaseStatus.REPORTED),
    (CaseStatus.INVESTIGATING, CaseStatus.DISMISSED),
}


def test_the_only_status_changes_are_the_three_edges_of_the_workflow() -> None:
    assert EDGES == GRAPH


@given(
    st.lists(
        st.tuples(st.sampled_from(list(CaseAction)), st.booleans(), st.booleans()), max_size=30
    )
)
def test_no_sequence_of_actions_leaves_the_graph(
    actions: list[tuple[CaseAction, bool, bool]],
) -> None:
    status = CaseStatus.OPEN
    for action, has_draft, has_note in actions:
        try:
            moved = step(status, action, has_draft=has_draft, has_note=has_note)
        except Rejected as exc:
            assert exc.code in {"case_transition_invalid", "case_str_missing", "case_note_required"}
            continue
        assert moved.from_status is status
        assert moved.to_status in set(CaseStatus)
        assert moved.to_status is status or (status, moved.to_status) in GRAPH
        if moved.to_status is not status and moved.to_status is CaseStatus.REPORTED:
            assert has_draft
        if moved.to_status is not status and moved.to_status is CaseStatus.DISMISSED:
            assert has_note
        status = moved.to_status


@pytest.mark.parametrize("final", [CaseStatus.REPORTED, CaseStatus.DISMISSED])
@pytest.mark.parametrize(
    "action", [CaseAction.INVESTIGATE, CaseAction.REPORT, CaseAction.DISMISS, CaseAction.ASSIGN]
)
def test_a_closed_case_refuses_every_change_but_a_note(
    final: CaseStatus, action: CaseAction
) -> None:
    with pytest.raises(Rejected) as refused:
        step(final, action, has_draft=True, has_note=True)
    assert refused.value.code == "case_transition_invalid"
    assert step(final, CaseAction.NOTE).to_status is final


def test_reporting_needs_a_draft_and_dismissing_needs_a_note() -> None:
    with pytest.raises(Rejected) as no_draft:
        step(CaseStatus.INVESTIGATING, CaseAction.REPORT, has_note=True)
    with pytest.raises(Rejected) as no_note:
        step(CaseStatus.INVESTIGATING, CaseAction.DISMISS, has_draft=True)
    assert (no_draft.value.code, no_note.value.code) == ("case_str_missing", "case_note_required")


def test_an_open_case_cannot_be_reported_or_dismissed_without_investigation() -> None:
    for action in (CaseAction.REPORT, CaseAction.DISMISS):
        with pytest.raises(Rejected) as refused:
            step(CaseStatus.OPEN, action, has_draft=True, has_note=True)
        assert refused.value.code == "case_transition_invalid"


def _case(
    status: CaseStatus, score: int = 60, *kinds: str, periods: tuple[str, ...] = ("p1",)
) -> CaseFacts:
    return CaseFacts(status, score, frozenset(kinds or ("fan_in",)), frozenset(periods))


def _alert(score: int = 60, *kinds: str, period: str = "p1", **recorded: object) -> AlertFacts:
    return AlertFacts(period, score, frozenset(kinds or ("fan_in",)), **recorded)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("alert", "latest", "decision"),
    [
        (_alert(), None, Decision.OPEN_NEW),
        (_alert(), _case(CaseStatus.OPEN), Decision.ADD),
        (_alert(10), _case(CaseStatus.INVESTIGATING), Decision.ADD),
        (_alert(60), _case(CaseStatus.DISMISSED, 60), Decision.SUPPRESS),
        (_alert(60, period="p2"), _case(CaseStatus.DISMISSED, 60), Decision.SUPPRESS),
        (_alert(61), _case(CaseStatus.DISMISSED, 60), Decision.OPEN_NEW),
        (_alert(50, "fan_in", "cycle"), _case(CaseStatus.DISMISSED, 60), Decision.OPEN_NEW),
        (_alert(60, period="p2"), _case(CaseStatus.REPORTED, 60), Decision.OPEN_NEW),
        (_alert(60), _case(CaseStatus.REPORTED, 60), Decision.SUPPRESS),
        (
            _alert(60, recorded_score=60, recorded_typologies=frozenset({"fan_in"})),
            None,
            Decision.UNCHANGED,
        ),
        (
            _alert(70, recorded_score=60, recorded_typologies=frozenset({"fan_in"})),
            _case(CaseStatus.OPEN),
            Decision.ADD,
        ),
    ],
)
def test_what_an_alert_does_to_its_subjects_cases(
    alert: AlertFacts, latest: CaseFacts | None, decision: Decision
) -> None:
    assert decide(alert, latest) is decision


@given(st.integers(0, 100), st.integers(0, 100), st.sampled_from(sorted(CaseStatus)))
def test_an_alert_recorded_before_with_no_more_to_say_never_changes_a_case(
    score: int, extra: int, status: CaseStatus
) -> None:
    alert = _alert(score, recorded_score=score + extra, recorded_typologies=frozenset({"fan_in"}))
    assert decide(alert, _case(status)) is Decision.UNCHANGED


def test_an_active_case_is_one_of_open_or_investigating() -> None:
    assert {CaseStatus.OPEN, CaseStatus.INVESTIGATING} == ACTIVE


def test_merged_reasons_keep_each_finding_once_heaviest_first() -> None:
    def rec(rule: str, weight: int, ids: list[str]) -> dict[str, object]:
        return {"rule": rule, "words_en": rule, "weight": weight, "transaction_ids": ids}

    merged = merge_reasons([rec("a", 10, ["t1"]), rec("b", 30, ["t2"])], [rec("a", 10, ["t1"])])
    assert [(r["rule"], r["weight"]) for r in merged] == [("b", 30), ("a", 10)]


@pytest.mark.parametrize("period", ["", "2026-11 ", "x" * 33, "../etc", "2026-11\n"])
def test_a_period_is_a_short_label(period: str) -> None:
    with pytest.raises(Rejected) as refused:
        check_period(period)
    assert refused.value.code == "invalid_period"
