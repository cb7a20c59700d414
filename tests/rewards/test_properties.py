"""Property: whatever the rows and the budget, the money a batch says it paid is exactly what
left the budget and exactly what its recipients received, before and after a re-run."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paycore.rewards.model import RowStatus, parse_amount
from paycore.runtime import Runtime
from tests.rewards.conftest import csv_of, new_shop

RECIPIENTS = ("ann", "ben", "cyd")
amounts = st.one_of(
    st.integers(min_value=1, max_value=3_000).map(str),
    st.sampled_from(["0", "-3", "1.5", "abc", "", "99999999999999999999"]),
)
rows_strategy = st.lists(
    st.tuples(st.sampled_from((*RECIPIENTS, "ghost")), amounts), min_size=0, max_size=40
)
_shops = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=rows_strategy,
    funded=st.integers(min_value=1, max_value=40_000),
    top_up=st.integers(min_value=1, max_value=60_000),
)
def test_paid_total_equals_budget_debits_equals_recipients_credits(
    runtime: Runtime, rows: list[tuple[str, str]], funded: int, top_up: int
) -> None:
    shop = new_shop(runtime, name=f"shop {next(_shops)}")
    shop.budget(funded=funded, row_amount_max=2_500, recipient_total_max=20_000)
    shop.open(*RECIPIENTS)
    text = csv_of(rows)

    for run in range(2):
        summary = shop.pay_csv(text)
        budget = runtime.rewards.get_budget(shop.merchant_id, "spring")
        received = sum(shop.wallet(r) for r in RECIPIENTS)
        assert summary.paid_amount == budget.spent == received
        assert budget.balance == budget.funded - budget.spent >= 0
        found = runtime.rewards.rows(shop.merchant_id, "b1", limit=1000)
        for row in found:
            assert row.status != RowStatus.PENDING
            if row.status == RowStatus.PAID:
                assert row.amount == parse_amount(row.amount_text) and row.recipient in RECIPIENTS
        totals = {
            r: sum(x.amount or 0 for x in found if x.recipient == r and x.status == "paid")
            for r in RECIPIENTS
        }
        assert all(total <= 20_000 for total in totals.values())
        assert totals == {r: shop.wallet(r) for r in RECIPIENTS}
        if run == 0:
            shop.fund("spring", top_up)
    assert runtime.ledger.check().ok
