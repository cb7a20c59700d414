"""The scoring formula's rules, for any reasons (hypothesis), and the words of a reason."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paycore.aml.model import (
    REPEAT_MAX,
    REPEAT_POINTS,
    SCORE_MAX,
    Reason,
    SubjectType,
    Typology,
    Words,
    alerts_of,
    score_of,
    score_subjects,
)

reasons = st.builds(
    Reason,
    rule=st.sampled_from([t.value for t in Typology]),
    typology=st.just(Typology.FAN_IN),
    subject_type=st.just(SubjectType.MERCHANT),
    subject_id=st.sampled_from(["mch_1", "mch_2"]),
    words=st.just(Words("en", "zh")),
    weight=st.integers(min_value=0, max_value=90),
    transaction_ids=st.just(("tr_1",)),
    transaction_count=st.just(1),
)


def test_a_subject_without_reasons_scores_zero() -> None:
    assert score_of([]) == 0


@given(st.lists(reasons, max_size=12), reasons)
def test_adding_a_reason_never_lowers_a_score(found: list[Reason], extra: Reason) -> None:
    assert score_of([*found, extra]) >= score_of(found)


@given(st.lists(reasons, max_size=12))
def test_a_score_is_between_zero_and_the_maximum_and_ignores_order(found: list[Reason]) -> None:
    score = score_of(found)
    assert 0 <= score <= SCORE_MAX
    assert score_of(list(reversed(found))) == score


@given(reasons, st.integers(min_value=1, max_value=20))
def test_one_rule_repeating_itself_gains_at_most_the_repeat_cap(reason: Reason, times: int) -> None:
    score = score_of([reason] * times)
    assert score == min(SCORE_MAX, reason.weight + REPEAT_POINTS * min(REPEAT_MAX, times - 1))


@given(st.lists(reasons, max_size=12), st.integers(min_value=0, max_value=SCORE_MAX))
def test_alerts_are_exactly_the_subjects_at_or_above_the_threshold(
    found: list[Reason], threshold: int
) -> None:
    scores = score_subjects(found)
    alerted = {a.subject_id for a in alerts_of(scores, threshold=threshold)}
    assert alerted == {s.subject_id for s in scores if s.score >= threshold}
    assert [s.score for s in scores] == sorted((s.score for s in scores), reverse=True)
