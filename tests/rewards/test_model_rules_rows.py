"""How `plan_rows` validates a batch file's rows: each rule at its limit, which rule wins
when a row breaks several, and how limits add up over the rows of one file.

Pure: rows are built in memory; no ledger, no database.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.rewards import model
from paycore.rewards.model import (
    NOTE_LENGTH_MAX,
    ROW_NUMBER_MAX,
    Budget,
    PlannedRow,
    RawRow,
    plan_rows,
)

BUDGET = Budget(
    merchant_id="m_1",
    id="spring",
    name="Spring",
    currency="CNY",
    account_id="acct_rb_x",
    row_amount_max=500,
    recipient_total_max=800,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)
KNOWN = frozenset({"ann", "ben", "5"})


def row(position: int = 1, **cells: Any) -> RawRow:
    values: dict[str, Any] = {"row": None, "recipient": "ann", "amount": "100", "currency": None,
                              "note": None}  # fmt: skip
    values.update(cells)
    return RawRow(position=position, **values)


def plan(*rows: RawRow, paid_so_far: dict[str, int] | None = None) -> list[PlannedRow]:
    return plan_rows(rows, budget=BUDGET, known_recipients=KNOWN, paid_so_far=paid_so_far or {})


def reasons(*rows: RawRow, paid_so_far: dict[str, int] | None = None) -> list[str | None]:
    return [p.reason for p in plan(*rows, paid_so_far=paid_so_far)]


def test_a_valid_row_is_planned_with_its_cells() -> None:
    (planned,) = plan(row(3, row="12", recipient="ben", amount="250", currency="CNY", note="hi"))

    assert planned == PlannedRow(
        position=3, row=12, recipient="ben", amount=250, amount_text="250", note="hi", reason=None
    )
    assert planned.valid


def test_a_row_without_a_number_is_numbered_by_its_place_in_the_file() -> None:
    planned = plan(row(1, row=None), row(2, row=""), row(3, row="9"))
    assert [p.row for p in planned] == [1, 2, 9]
    assert [p.reason for p in planned] == [None, None, None]


@pytest.mark.parametrize(
    ("number", "parsed"),
    [("1", 1), (ROW_NUMBER_MAX, ROW_NUMBER_MAX), (str(ROW_NUMBER_MAX + 1), None), ("0", None),
     ("x", None), ("-2", None)],
)  # fmt: skip
def test_a_row_number_is_a_positive_integer_up_to_a_billion(
    number: object, parsed: int | None
) -> None:
    (planned,) = plan(row(1, row=number))
    assert planned.row == parsed
    assert planned.reason == (None if parsed else "bad_row_number")
    assert planned.valid is (parsed is not None)


def test_missing_cells_are_empty_texts_and_long_ones_are_cut() -> None:
    (empty,) = plan(row(recipient=None, amount=None, note=None))
    assert (empty.recipient, empty.amount_text, empty.note) == ("", "", "")

    (long,) = plan(row(recipient="r" * 70, amount="9" * 40, note="n" * 300))
    assert (long.recipient, long.amount_text, long.note) == ("r" * 64, "9" * 32, "n" * 256)
    assert len(long.note) == NOTE_LENGTH_MAX


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"recipient": ""}, "missing_recipient"),
        ({"recipient": 5}, "missing_recipient"),  # a JSON number, even one that is known
        ({"recipient": "cyd"}, "unknown_recipient"),
        ({"amount": "1.5"}, "bad_amount"),
        ({"currency": "USD"}, "wrong_currency"),
        ({"currency": "cny"}, "wrong_currency"),
        ({"currency": ""}, None),
        ({"currency": "CNY"}, None),
        ({"amount": "500"}, None),  # exactly the row limit
        ({"amount": "501"}, "over_row_limit"),
    ],
)
def test_each_row_rule(cells: dict[str, Any], reason: str | None) -> None:
    assert reasons(row(**cells)) == [reason]


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"row": "0", "recipient": ""}, "bad_row_number"),
        ({"recipient": "", "amount": "x"}, "missing_recipient"),
        ({"recipient": "cyd", "amount": "x"}, "unknown_recipient"),
        ({"amount": "x", "currency": "USD"}, "bad_amount"),
        ({"amount": "900", "currency": "USD"}, "wrong_currency"),
        ({"amount": "900"}, "over_row_limit"),  # over both limits: the row limit is named
    ],
)
def test_the_first_rule_a_row_breaks_is_its_reason(cells: dict[str, Any], reason: str) -> None:
    assert reasons(row(**cells)) == [reason]


def test_a_recipient_may_reach_its_total_limit_but_not_pass_it() -> None:
    # 800 over all batches: 300 already paid, then 500 (exactly the limit), then 1 more.
    assert reasons(
        row(1, amount="500"), row(2, amount="1"), row(3, recipient="ben", amount="500"),
        paid_so_far={"ann": 300},
    ) == [None, "over_recipient_limit", None]  # fmt: skip


def test_a_first_row_may_pay_a_recipient_its_whole_total_limit() -> None:
    budget = replace(BUDGET, row_amount_max=800)
    planned = plan_rows([row(amount="800")], budget=budget, known_recipients=KNOWN, paid_so_far={})
    assert [p.reason for p in planned] == [None]


def test_invalid_rows_do_not_count_towards_the_recipients_total() -> None:
    assert reasons(
        row(1, amount="400", currency="USD"), row(2, amount="500"), row(3, amount="300"),
    ) == ["wrong_currency", None, None]  # fmt: skip


def test_a_row_number_given_twice_is_a_duplicate_however_it_was_given() -> None:
    assert reasons(row(1, row="2"), row(2), row(3, row="7"), row(4, row="7")) == [
        None,
        "duplicate_row",  # numbered 2 by its place, like the first
        None,
        "duplicate_row",
    ]


def test_rows_without_a_valid_number_are_not_duplicates_of_each_other() -> None:
    assert reasons(row(1, row="0"), row(2, row="0")) == ["bad_row_number", "bad_row_number"]


@given(amounts=st.lists(st.integers(1, 600), max_size=12))
def test_what_a_recipient_is_planned_never_passes_its_total_limit(amounts: list[int]) -> None:
    planned = plan(*(row(i, amount=str(a)) for i, a in enumerate(amounts, 1)))
    valid = [p.amount or 0 for p in planned if p.valid]
    assert sum(valid) <= BUDGET.recipient_total_max
    # A row is refused only for a rule: over the row limit, or over what is left.
    running = 0
    for p in planned:
        assert p.amount is not None
        if p.valid:
            running += p.amount
        elif p.amount <= BUDGET.row_amount_max:
            assert running + p.amount > BUDGET.recipient_total_max


def test_a_file_of_exactly_the_row_limit_is_planned_and_one_more_row_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real limit is 100,000 rows; a small one tests the same boundary without planning
    # 200,000 rows for every mutant mutmut tries.
    assert model.BATCH_ROWS_MAX == 100_000
    monkeypatch.setattr(model, "BATCH_ROWS_MAX", 3)
    rows = [row(i, recipient="cyd") for i in range(1, 4)]
    assert len(plan(*rows)) == 3

    with pytest.raises(Rejected) as refused:
        plan(*rows, row(4))
    assert refused.value.code == "batch_too_large"
