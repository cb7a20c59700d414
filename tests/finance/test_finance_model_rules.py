"""The pure voucher rules, by property: vouchers balance, grouping keeps every total, ids
and bodies do not depend on the order rows come in, and breaks name what differs."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import InvariantViolation
from paycore.finance.chart import DEFAULT_CHART
from paycore.finance.model import (
    BreakKind,
    Movement,
    amount_breaks,
    build_vouchers,
    receiver_breaks,
    replay_conflicts,
    voucher_type_of,
)

DAY = date(2026, 11, 30)
CODES = sorted(DEFAULT_CHART.by_ledger_code)
REASONS = [("tr_pay_", 1), ("tr_pay_", 2), ("tr_po_", 3), ("tr_spl_", 30), ("tr_cus_", 41), ("", 7)]


@st.composite
def transfers(draw: st.DrawFn) -> list[tuple[str, str, int, int, int, int]]:
    """(currency, prefix, reason, debit code, credit code, amount) posted transfers."""
    row = st.tuples(
        st.sampled_from(["CNY", "USD"]),
        st.sampled_from(REASONS),
        st.sampled_from(CODES),
        st.sampled_from(CODES),
        st.integers(1, 10**12),
    )
    return [(c, p, r, d, k, a) for c, (p, r), d, k, a in draw(st.lists(row, max_size=40))]


def _movements(posted: list[tuple[str, str, int, int, int, int]]) -> list[Movement]:
    """What the SQL GROUP BY returns for these transfers: one row per group and side."""
    sums: Counter[tuple[str, str, int, int, str]] = Counter()
    counts: Counter[tuple[str, str, int, int, str]] = Counter()
    for currency, prefix, reason, debit, credit, amount in posted:
        for code, side in ((debit, "debit"), (credit, "credit")):
            sums[(currency, prefix, reason, code, side)] += amount
            counts[(currency, prefix, reason, code, side)] += 1
    return [Movement(*key, sums[key], counts[key]) for key in sums]


@given(transfers())
def test_every_voucher_balances_and_grouping_keeps_the_totals_per_code(
    posted: list[tuple[str, str, int, int, int, int]],
) -> None:
    vouchers = build_vouchers(DAY, _movements(posted), DEFAULT_CHART.gl_of)

    assert all(v.debit_total_minor == v.credit_total_minor for v in vouchers)
    assert sum(v.transfer_count for v in vouchers) == len(posted)
    expected: Counter[tuple[str, int, str]] = Counter()
    for currency, _p, _r, debit, credit, amount in posted:
        expected[(currency, debit, "debit")] += amount
        expected[(currency, credit, "credit")] += amount
    found: Counter[tuple[str, int, str]] = Counter()
    for v in vouchers:
        for line in v.lines:
            assert line.gl_account == DEFAULT_CHART.gl_of(line.ledger_code)
            found[(v.currency, line.ledger_code, "debit")] += line.debit_minor
            found[(v.currency, line.ledger_code, "credit")] += line.credit_minor
    assert +found == +expected
    assert len({v.id for v in vouchers}) == len(vouchers)


@given(transfers(), st.randoms(use_true_random=False))
def test_ids_and_bodies_do_not_depend_on_the_order_of_the_rows(
    posted: list[tuple[str, str, int, int, int, int]], rng: object
) -> None:
    rows = _movements(posted)
    shuffled = list(rows)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]

    first = build_vouchers(DAY, rows, DEFAULT_CHART.gl_of)
    again = build_vouchers(DAY, shuffled, DEFAULT_CHART.gl_of)

    assert [(v.id, v.body_hash) for v in first] == [(v.id, v.body_hash) for v in again]
    assert replay_conflicts(again, {v.id: v.body_hash for v in first}) == []


def test_a_group_that_does_not_balance_is_an_invariant_violation() -> None:
    rows = [Movement("CNY", "tr_pay_", 1, 1101, "debit", 100, 1)]
    with pytest.raises(InvariantViolation):
        build_vouchers(DAY, rows, DEFAULT_CHART.gl_of)


def test_the_flow_and_reason_decide_the_voucher_type_and_unknown_ones_are_other() -> None:
    assert voucher_type_of("tr_spl_", 30) == "split"
    assert voucher_type_of("tr_adj_", 30) == "recon_adjustment"
    assert voucher_type_of("tr_col_", 51) == voucher_type_of("tr_pay_", 2) == "fee"
    assert voucher_type_of("", 1) == "other"


def test_a_replay_that_differs_names_the_changed_the_new_and_the_lost_ids() -> None:
    rows = _movements([("CNY", "tr_pay_", 1, 1101, 2001, 500), ("CNY", "tr_po_", 3, 2101, 1101, 9)])
    vouchers = build_vouchers(DAY, rows, DEFAULT_CHART.gl_of)
    stored = {vouchers[0].id: "x", "vch_20261130_fee_CNY": "y"}

    assert replay_conflicts(vouchers, stored) == sorted([*stored, vouchers[1].id])


def test_breaks_name_each_difference_and_none_when_all_agree() -> None:
    ours = {"a": "1", "b": "2", "c": "3"}
    found = receiver_breaks(ours, {"a": "1", "c": "9", "d": "4"})
    assert [(b.kind, b.voucher_id) for b in found] == [
        (BreakKind.MISSING_AT_RECEIVER, "b"),
        (BreakKind.BODY_MISMATCH, "c"),
        (BreakKind.UNKNOWN_AT_RECEIVER, "d"),
    ]
    assert receiver_breaks(ours, dict(ours)) == []
    key = ("CNY", "224101", 2001)
    assert amount_breaks({key: (0, 5)}, {key: (0, 5)}) == []
    [mismatch] = amount_breaks({key: (0, 5)}, {})
    assert mismatch.view()["vouchers_credit_minor"] == 5
