"""Cases on the database: opening from alerts, the workflow, concurrency and the trail."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from paycore.aml.cases import Cases
from paycore.aml.model import SubjectType, Typology
from paycore.clock import ManualClock
from paycore.errors import Rejected
from tests.aml.test_cases_fixtures import (  # noqa: F401
    alert,
    cases_fixture,
    cipher_fixture,
    empty_aml_tables_fixture,
    lookup_fixture,
)
from tests.conftest import postgres_only


def _refused(code: str) -> pytest.RaisesExc[Rejected]:
    return pytest.raises(Rejected, match=f"^{code}")


def test_opening_the_same_alerts_twice_opens_one_case_per_subject(cases: Cases) -> None:
    alerts = [
        alert(subject="mch_a"),
        alert(subject="mch_b"),
        alert(subject="mch_a:u1", subject_type=SubjectType.OWNER),
    ]

    first = cases.open_cases(alerts, period="2026-11")
    again = cases.open_cases(alerts, period="2026-11")

    assert len(first.opened) == 3 and (again.opened, again.added, again.unchanged) == ([], [], 3)
    listed = cases.list_cases()
    assert sorted(c.subject_id for c in listed) == ["mch_a", "mch_a:u1", "mch_b"]
    assert all(c.status.value == "open" and c.version == 1 for c in listed)


def test_an_alert_below_its_threshold_opens_nothing(cases: Cases) -> None:
    opening = cases.open_cases([alert(score=49)], period="2026-11")

    assert opening.opened == [] and cases.list_cases() == []


def test_a_new_alert_for_a_subject_with_an_open_case_adds_to_it(cases: Cases) -> None:
    (case_id,) = cases.open_cases([alert(Typology.FAN_IN, score=55)], period="2026-10").opened

    later = cases.open_cases(
        [alert(Typology.CYCLE, score=70, transaction_ids=("tr_9",))], period="2026-11"
    )

    assert later.added == [case_id]
    case = cases.get(case_id)
    assert (case.score, case.typologies, case.version) == (70, ("cycle", "fan_in"), 2)
    assert {r["typology"] for r in case.reasons} == {"cycle", "fan_in"}
    trail = cases.events(case_id, open_notes=False)
    assert [e.action for e in trail] == ["open", "alert"]
    assert trail[1].details == {"period": "2026-11", "score": 70, "typologies": ["cycle"]}


def _dismissed(cases: Cases, case_id: str) -> None:
    cases.transition(case_id, "investigate", version=1, actor="ana")
    cases.transition(case_id, "dismiss", version=2, actor="ana", note="known wholesaler")


def test_a_dismissed_subject_reopens_only_with_a_higher_score_or_a_new_typology(
    cases: Cases,
) -> None:
    (first,) = cases.open_cases([alert(score=60)], period="2026-10").opened
    _dismissed(cases, first)

    same = cases.open_cases([alert(score=60)], period="2026-11")
    lower = cases.open_cases([alert(score=55)], period="2026-12")
    higher = cases.open_cases([alert(score=65)], period="2027-01")

    assert (same.suppressed, lower.suppressed, same.opened, lower.opened) == (1, 1, [], [])
    (second,) = higher.opened
    assert cases.get(second).previous_case_id == first
    _dismissed(cases, second)
    (third,) = cases.open_cases(
        [alert(Typology.FAN_IN, Typology.CYCLE, score=50)], period="2027-02"
    ).opened
    assert cases.get(third).typologies == ("cycle", "fan_in")


def test_a_reported_subject_gets_a_follow_up_case_for_a_new_period(cases: Cases) -> None:
    (first,) = cases.open_cases([alert()], period="2026-10").opened
    cases.transition(first, "investigate", version=1, actor="ana")
    cases.draft_str(first, conclusion="funnel account", version=2, actor="ana")
    cases.transition(first, "report", version=3, actor="ana")

    again = cases.open_cases([alert()], period="2026-10")
    follow_up = cases.open_cases([alert()], period="2026-11")

    assert again.opened == [] and len(follow_up.opened) == 1


def test_the_workflow_runs_open_investigating_reported_with_one_event_per_change(
    cases: Cases, clock: ManualClock
) -> None:
    (case_id,) = cases.open_cases([alert()], period="2026-11").opened

    cases.assign(case_id, assignee="analyst-7", version=1, actor="lead")
    cases.transition(case_id, "investigate", version=2, actor="analyst-7")
    cases.add_note(
        case_id, note="Called the merchant; owner 王小明 evasive", version=3, actor="analyst-7"
    )
    with _refused("case_str_missing"):
        cases.transition(case_id, "report", version=4, actor="analyst-7")
    clock.advance(60)
    cases.draft_str(case_id, conclusion="fan-in front", version=4, actor="analyst-7")
    done = cases.transition(case_id, "report", version=5, actor="analyst-7")

    assert (done.status.value, done.version, done.assignee) == ("reported", 6, "analyst-7")
    trail = cases.events(case_id, open_notes=True)
    assert [(e.seq, e.action, e.from_status, e.to_status) for e in trail] == [
        (1, "open", None, "open"),
        (2, "assign", "open", "open"),
        (3, "investigate", "open", "investigating"),
        (4, "note", "investigating", "investigating"),
        (5, "draft", "investigating", "investigating"),
        (6, "report", "investigating", "reported"),
    ]
    assert trail[3].note == "Called the merchant; owner 王小明 evasive"
    with _refused("case_transition_invalid"):
        cases.transition(case_id, "dismiss", version=6, actor="x", note="no")


def test_notes_are_sealed_at_rest_and_shown_only_when_opened(cases: Cases, engine: Engine) -> None:
    (case_id,) = cases.open_cases([alert()], period="2026-11").opened
    cases.add_note(case_id, note="met 王小明 at the shop", version=1, actor="ana")

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT note_enc FROM aml_case_events WHERE seq = 2")).scalar()
    closed = cases.events(case_id, open_notes=False)[1]

    assert stored and "王小明" not in stored and stored.startswith("amlc1:")
    assert (closed.has_note, closed.note) == (True, None)


def test_dismissing_needs_a_note_and_a_bad_action_is_a_bad_transition(cases: Cases) -> None:
    (case_id,) = cases.open_cases([alert()], period="2026-11").opened
    cases.transition(case_id, "investigate", version=1, actor="ana")

    with _refused("case_note_required"):
        cases.transition(case_id, "dismiss", version=2, actor="ana")
    with _refused("case_transition_invalid"):
        cases.transition(case_id, "reopen", version=2, actor="ana")
    with _refused("case_not_found"):
        cases.transition("amlc_nope", "investigate", version=1, actor="ana")
    assert cases.get(case_id).version == 2


def test_of_two_changes_from_the_same_version_one_wins_and_one_conflicts(cases: Cases) -> None:
    (case_id,) = cases.open_cases([alert()], period="2026-11").opened
    results: list[str] = []
    barrier = threading.Barrier(2)

    def change(assignee: str) -> None:
        barrier.wait()
        try:
            cases.assign(case_id, assignee=assignee, version=1, actor=assignee)
            results.append("won")
        except Rejected as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=change, args=(name,)) for name in ("ana", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == ["case_version_conflict", "won"]
    case = cases.get(case_id)
    assert case.version == 2 and len(cases.events(case_id, open_notes=False)) == 2


def test_a_stale_version_is_a_conflict_that_changes_nothing(cases: Cases) -> None:
    (case_id,) = cases.open_cases([alert()], period="2026-11").opened
    cases.transition(case_id, "investigate", version=1, actor="ana")

    with _refused("case_version_conflict"):
        cases.add_note(case_id, note="late", version=1, actor="bo")
    assert len(cases.events(case_id, open_notes=False)) == 2


@pytest.mark.parametrize(
    "statement",
    ["UPDATE aml_case_events SET actor = 'mallory'", "DELETE FROM aml_case_events"],
)
def test_the_trail_refuses_updates_and_deletes(
    cases: Cases, engine: Engine, statement: str
) -> None:
    cases.open_cases([alert()], period="2026-11")

    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM aml_case_events")).scalar() == "aml"


def test_two_runs_opening_the_same_alerts_at_once_open_each_case_once(cases: Cases) -> None:
    alerts = [alert(subject=f"mch_{n}") for n in range(5)]
    barrier = threading.Barrier(2)
    opened: list[int] = []

    def run() -> None:
        barrier.wait()
        opened.append(len(cases.open_cases(alerts, period="2026-11").opened))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(opened) == 5
    assert sorted(c.subject_id for c in cases.list_cases()) == [f"mch_{n}" for n in range(5)]


@postgres_only
def test_the_trail_refuses_truncate_on_postgresql(cases: Cases, engine: Engine) -> None:
    cases.open_cases([alert()], period="2026-11")

    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("TRUNCATE aml_case_events"))
