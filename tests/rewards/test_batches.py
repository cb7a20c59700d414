"""Batch payouts: validation, payment, re-runs, exhausted budgets and crashes mid-batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from paycore.errors import Rejected
from paycore.ledger.model import TransferRequest, TransferResult
from paycore.rewards.files import json_file
from paycore.rewards.model import RowOutcome
from paycore.runtime import Runtime
from tests.rewards.conftest import Shop, csv_of


def outcomes(shop: Shop, batch_id: str = "b1") -> dict[int | None, RowOutcome]:
    return {r.row: r for r in shop.rewards.rows(shop.merchant_id, batch_id, limit=1000)}


def test_valid_rows_pay_and_invalid_rows_are_reported_with_a_reason(shop: Shop) -> None:
    shop.budget(funded=1_000_000, row_amount_max=50_000)
    shop.open("alice", "bob", "carol")
    text = csv_of(
        [
            ("alice", "1000"),
            ("nobody", "500"),  # no wallet
            ("bob", "50001"),  # over the per-row limit
            ("carol", "1.5"),
            ("carol", "-3"),
            ("carol", "abc"),
            ("carol", ""),
            ("bob", "2500"),
        ]
    )

    summary = shop.pay_csv(text)

    rows = outcomes(shop)
    assert {n: (r.status, r.reason) for n, r in rows.items()} == {
        1: ("paid", None),
        2: ("invalid", "unknown_recipient"),
        3: ("invalid", "over_row_limit"),
        4: ("invalid", "bad_amount"),
        5: ("invalid", "bad_amount"),
        6: ("invalid", "bad_amount"),
        7: ("invalid", "bad_amount"),
        8: ("paid", None),
    }
    assert (shop.wallet("alice"), shop.wallet("bob"), shop.wallet("carol")) == (1000, 2500, 0)
    assert summary.paid_amount == 3500
    assert summary.counts["paid"] == 2 and summary.counts["invalid"] == 6
    assert shop.balance("spring") == 1_000_000 - 3500


def test_a_rerun_of_the_same_file_pays_nothing_twice(shop: Shop) -> None:
    shop.budget(funded=1_000_000)
    shop.open("alice", "bob")
    text = csv_of([("alice", "1000"), ("ghost", "5"), ("bob", "700")])
    first = shop.pay_csv(text)
    paid_ids = {n: r.transfer_id for n, r in outcomes(shop).items()}

    again = shop.pay_csv(text)

    assert (shop.wallet("alice"), shop.wallet("bob")) == (1000, 700)
    assert again.paid_amount == first.paid_amount == 1700
    assert again.runs == 2
    assert {n: r.transfer_id for n, r in outcomes(shop).items()} == paid_ids
    assert shop.balance("spring") == 1_000_000 - 1700


def test_another_file_under_the_same_batch_id_is_refused(shop: Shop) -> None:
    shop.budget(funded=10_000)
    shop.open("alice")
    shop.pay_csv(csv_of([("alice", "100")]))

    with pytest.raises(Rejected) as refused:
        shop.pay_csv(csv_of([("alice", "999")]))

    assert refused.value.code == "batch_reused"
    assert shop.wallet("alice") == 100


def test_a_recipient_is_paid_at_most_its_total_limit_over_all_batches(shop: Shop) -> None:
    shop.budget(funded=1_000_000, row_amount_max=50_000, recipient_total_max=60_000)
    shop.open("alice")
    shop.pay_csv(csv_of([("alice", "40000"), ("alice", "20000"), ("alice", "1")]))

    shop.pay_csv(csv_of([("alice", "1")]), batch_id="b2")

    assert [r.reason for r in outcomes(shop).values()] == [None, None, "over_recipient_limit"]
    assert [r.reason for r in outcomes(shop, "b2").values()] == ["over_recipient_limit"]
    assert shop.wallet("alice") == 60_000


def test_duplicate_row_numbers_wrong_currency_and_missing_cells_are_invalid(shop: Shop) -> None:
    shop.budget(funded=10_000)
    shop.open("alice")
    text = (
        "row,recipient,amount,currency\n7,alice,10,CNY\n7,alice,20,CNY\n8,alice,30,USD\n9,alice\n"
    )

    shop.pay_csv(text)

    rows = shop.rewards.rows(shop.merchant_id, "b1")
    assert [(r.row, r.status, r.reason) for r in rows] == [
        (7, "paid", None),
        (7, "invalid", "duplicate_row"),
        (8, "invalid", "wrong_currency"),
        (9, "invalid", "bad_amount"),
    ]
    assert shop.wallet("alice") == 10


def test_an_exhausted_budget_fails_the_rest_and_a_rerun_after_funding_pays_only_them(
    shop: Shop,
) -> None:
    shop.budget(funded=2_500)
    shop.open("alice", "bob", "carol")
    text = csv_of([("alice", "1000"), ("bob", "1000"), ("carol", "1000"), ("alice", "1000")])

    first = shop.pay_csv(text)

    assert [(r.status, r.reason) for r in outcomes(shop).values()] == [
        ("paid", None),
        ("paid", None),
        ("failed", "budget_exhausted"),
        ("failed", "budget_exhausted"),
    ]
    assert first.retryable_rows == 2 and shop.balance("spring") == 500
    failed_ids = {n: r.transfer_id for n, r in outcomes(shop).items() if r.status == "failed"}

    shop.fund("spring", 10_000)
    second = shop.pay_csv(text)

    rows = outcomes(shop)
    assert all(r.status == "paid" for r in rows.values())
    assert (shop.wallet("alice"), shop.wallet("bob"), shop.wallet("carol")) == (2000, 1000, 1000)
    assert second.paid_amount == 4000 and second.retryable_rows == 0
    assert shop.balance("spring") == 2_500 + 10_000 - 4000
    for number, old_id in failed_ids.items():
        assert rows[number].attempt == 2 and rows[number].transfer_id != old_id


class CrashAfter:
    """A ledger whose `create_transfers` raises once `calls` calls went through: before the
    call (money not moved) or after it (money moved, outcome not recorded)."""

    def __init__(self, runtime: Runtime, *, calls: int, after_ledger: bool) -> None:
        self.real = runtime.ledger.create_transfers
        self.calls = calls
        self.after_ledger = after_ledger

    def __call__(self, batch: Sequence[TransferRequest]) -> list[TransferResult]:
        if self.calls == 0 and not self.after_ledger:
            raise RuntimeError("crash before the ledger call")
        results = self.real(batch)
        if self.calls == 0:
            raise RuntimeError("crash after the ledger call")
        self.calls -= 1
        return results


@pytest.mark.parametrize("after_ledger", [False, True])
def test_a_crash_between_chunks_then_a_rerun_pays_every_row_exactly_once(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, after_ledger: bool
) -> None:
    shop.budget(funded=10_000_000, row_amount_max=1_000, recipient_total_max=10_000_000)
    recipients = [f"u{i}" for i in range(7)]
    shop.open(*recipients)
    rows = [(recipients[i % 7], str(1 + i % 10)) for i in range(2_500)]  # 3 chunks
    text = csv_of(rows)
    crash = CrashAfter(shop.runtime, calls=1, after_ledger=after_ledger)
    monkeypatch.setattr(shop.runtime.ledger, "create_transfers", crash)

    with pytest.raises(RuntimeError):
        shop.pay_csv(text)
    monkeypatch.setattr(shop.runtime.ledger, "create_transfers", crash.real)
    summary = shop.pay_csv(text)

    expected = sum(int(amount) for _, amount in rows)
    assert summary.counts["paid"] == 2_500 and summary.paid_amount == expected
    assert sum(shop.wallet(r) for r in recipients) == expected
    assert shop.balance("spring") == 10_000_000 - expected
    assert shop.runtime.ledger.check().ok


def test_a_row_whose_transfer_failed_in_a_crashed_run_is_retried_with_a_new_id(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.budget(funded=500)
    shop.open("alice")
    text = csv_of([("alice", "1000")])
    crash = CrashAfter(shop.runtime, calls=0, after_ledger=True)
    monkeypatch.setattr(shop.runtime.ledger, "create_transfers", crash)
    with pytest.raises(RuntimeError):
        shop.pay_csv(text)  # the ledger refused it (exceeds_credits) but nobody recorded that
    monkeypatch.setattr(shop.runtime.ledger, "create_transfers", crash.real)
    shop.fund("spring", 1_000)

    shop.pay_csv(text)

    [row] = outcomes(shop).values()
    assert (row.status, row.attempt, shop.wallet("alice")) == ("paid", 2, 1000)


def test_a_json_batch_is_validated_like_a_csv_one(shop: Shop) -> None:
    shop.budget(funded=10_000)
    shop.open("alice")
    rows: list[Any] = [
        {"recipient": "alice", "amount": 100, "note": "welcome"},
        {"recipient": "alice", "amount": 1.0},
        {"recipient": "alice", "amount": True},
        {"recipient": "alice", "amount": "250"},
        "not an object",
    ]

    shop.rewards.pay(shop.merchant_id, budget_id="spring", batch_id="j1", source=json_file(rows))

    found = shop.rewards.rows(shop.merchant_id, "j1")
    assert [(r.status, r.reason) for r in found] == [
        ("paid", None),
        ("invalid", "bad_amount"),
        ("invalid", "bad_amount"),
        ("paid", None),
        ("invalid", "missing_recipient"),
    ]
    assert found[0].note == "welcome" and shop.wallet("alice") == 350


@pytest.mark.parametrize(
    "text",
    [
        "",
        "name,amount\nalice,1\n",
        "recipient,amount,bonus\nalice,1,2\n",
        b"\xff\xfe".decode("latin-1"),
    ],
)
def test_a_file_without_the_expected_header_is_refused_before_anything_moves(
    shop: Shop, text: str
) -> None:
    shop.budget(funded=10_000)

    with pytest.raises(Rejected) as refused:
        shop.pay_csv(text)

    assert refused.value.code == "invalid_file"
    assert shop.balance("spring") == 10_000


def test_a_budget_cannot_be_funded_beyond_the_merchant_wallet_nor_reused_by_reference(
    shop: Shop,
) -> None:
    shop.budget()
    shop.fund("spring", 1_000, reference="r1")
    shop.fund("spring", 1_000, reference="r1")

    with pytest.raises(Rejected) as reused:
        shop.fund("spring", 2_000, reference="r1")
    with pytest.raises(Rejected) as short:
        shop.fund("spring", 10**11, reference="r2")

    assert (reused.value.code, short.value.code) == ("reference_reused", "insufficient_balance")
    assert shop.balance("spring") == 1_000


def test_a_withdrawal_returns_what_is_left_to_the_merchant(shop: Shop) -> None:
    shop.budget(funded=1_000)

    shop.rewards.withdraw(shop.merchant_id, "spring", amount=400, reference="w1")

    with pytest.raises(Rejected) as refused:
        shop.rewards.withdraw(shop.merchant_id, "spring", amount=601, reference="w2")
    assert refused.value.code == "budget_exhausted"
    assert shop.balance("spring") == 600


def test_a_budget_created_again_with_other_terms_is_refused(shop: Shop) -> None:
    first = shop.budget()
    assert shop.budget() == first

    with pytest.raises(Rejected) as refused:
        shop.budget(row_amount_max=1)

    assert refused.value.code == "budget_exists"


def test_another_merchants_budget_and_batch_do_not_exist_for_a_merchant(
    shop: Shop, runtime: Runtime
) -> None:
    shop.budget(funded=1_000)
    shop.open("alice")
    shop.pay_csv(csv_of([("alice", "10")]))
    other, _ = runtime.merchants.create(name="Other", fee_bps=0)

    for call in (
        lambda: runtime.rewards.get_budget(other.id, "spring"),
        lambda: runtime.rewards.summary(other.id, "b1"),
        lambda: runtime.rewards.fund(other.id, "spring", amount=1, reference="x"),
    ):
        with pytest.raises(Rejected) as missing:
            call()
        assert missing.value.code.endswith("_not_found")
