"""Reviews: grade confirmed or changed (the automatic grade kept), cause, handling and
notes written, each review a line on the timeline; and the list's filters and pages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.ops.incidents import Incidents
from paycore.ops.model import Grade, IncidentStatus
from tests.ops.conftest_incidents import (  # noqa: F401
    CLEAR_AFTER_S,
    incidents_fixture,
    signal,
    thresholds_fixture,
)


def closed_incident(incidents: Incidents, clock: ManualClock, key: str = "breaker:alpha") -> str:
    incident_id = incidents.reconcile([signal(key, since=clock.now())]).opened[0]
    clock.advance(1)
    incidents.reconcile([])
    clock.advance(CLEAR_AFTER_S)
    incidents.reconcile([])
    return incident_id


def test_a_review_regrades_and_keeps_the_automatic_grade(
    incidents: Incidents, clock: ManualClock
) -> None:
    incident_id = closed_incident(incidents, clock)
    assert incidents.get(incident_id).auto_grade is Grade.D

    reviewed = incidents.review(incident_id, by="alice", grade="b", cause="bank outage",
                                handling="routed to beta", notes="ask the bank")  # fmt: skip

    assert reviewed.status is IncidentStatus.REVIEWED
    assert (reviewed.grade, reviewed.auto_grade) == (Grade.B, Grade.D)
    assert (reviewed.cause, reviewed.handling, reviewed.review_notes) == (
        "bank outage", "routed to beta", "ask the bank",
    )  # fmt: skip
    assert reviewed.reviewed_by == "alice" and reviewed.reviewed_at == clock.now()
    assert reviewed.timeline[-1].kind == "reviewed"
    assert "grade B (was D)" in reviewed.timeline[-1].text


def test_a_review_without_a_grade_confirms_the_automatic_one(
    incidents: Incidents, clock: ManualClock
) -> None:
    incident_id = closed_incident(incidents, clock)
    reviewed = incidents.review(incident_id, by="bob", cause="x")
    assert reviewed.grade is Grade.D and not reviewed.awaiting_review


def test_reviewing_again_regrades_keeps_earlier_texts_and_adds_a_line(
    incidents: Incidents, clock: ManualClock
) -> None:
    incident_id = closed_incident(incidents, clock)
    incidents.review(incident_id, by="alice", grade=Grade.C, cause="bank outage")
    clock.advance(3600)
    again = incidents.review(incident_id, by="carol", grade=Grade.A, notes="money was late")

    assert (again.grade, again.auto_grade) == (Grade.A, Grade.D)
    assert again.cause == "bank outage" and again.review_notes == "money was late"
    assert [e.kind for e in again.timeline].count("reviewed") == 2
    assert "grade A (was C)" in again.timeline[-1].text


def test_an_open_incident_cannot_be_reviewed_yet(incidents: Incidents, clock: ManualClock) -> None:
    incident_id = incidents.reconcile([signal(since=clock.now())]).opened[0]
    with pytest.raises(Rejected) as refused:
        incidents.review(incident_id, by="alice", grade="A")
    assert refused.value.code == "incident_still_open"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"grade": "E"}, "invalid_grade"),
        ({"by": ""}, "invalid_review"),
        ({"cause": "x" * 4001}, "invalid_review"),
    ],
)
def test_a_bad_review_is_refused_and_changes_nothing(
    incidents: Incidents, clock: ManualClock, fields: dict[str, str], code: str
) -> None:
    incident_id = closed_incident(incidents, clock)
    with pytest.raises(Rejected) as refused:
        incidents.review(incident_id, **{"by": "alice", **fields})
    assert refused.value.code == code
    assert incidents.get(incident_id).status is IncidentStatus.RESOLVED


def test_an_unknown_incident_is_incident_not_found(incidents: Incidents) -> None:
    for call in (
        lambda: incidents.get("inc_nope"),
        lambda: incidents.review("inc_nope", by="alice"),
    ):
        with pytest.raises(Rejected) as refused:
            call()
        assert refused.value.code == "incident_not_found"


def test_the_list_filters_by_window_status_grade_and_awaiting_review(
    incidents: Incidents, clock: ManualClock
) -> None:
    start = clock.now()
    first = closed_incident(incidents, clock, "breaker:a")
    second = closed_incident(incidents, clock, "breaker:b")
    incidents.review(second, by="alice", grade="B")
    middle = clock.now()
    still_open = incidents.reconcile([signal("breaker:c", since=clock.now())]).opened[0]

    def ids(**filters: object) -> list[str]:
        return [i.id for i in incidents.list(**filters).incidents]  # type: ignore[arg-type]

    assert ids() == [still_open, second, first]
    assert ids(status=IncidentStatus.OPEN) == [still_open]
    assert ids(grade=Grade.B) == [second]
    assert ids(awaiting_review=True) == [still_open, first]
    assert ids(opened_from=start, opened_to=middle) == [second, first]
    assert ids(opened_from=middle) == [still_open]


def test_the_list_pages_with_its_cursor_newest_first(
    incidents: Incidents, clock: ManualClock
) -> None:
    opened = []
    for n in range(5):
        opened.append(incidents.reconcile([signal(f"breaker:{n}", since=clock.now())]).opened[0])
        clock.advance(timedelta(seconds=1).total_seconds())
    seen: list[str] = []
    after = None
    while True:
        page = incidents.list(limit=2, after=after)
        seen.extend(i.id for i in page.incidents)
        if page.next_cursor is None:
            break
        after = page.next_cursor

    assert seen == list(reversed(opened))
