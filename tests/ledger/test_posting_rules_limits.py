"""Balance limits and overflow in `Posting`, at exactly the limit and one past it, and
what a replay of a stored id is compared on."""

from __future__ import annotations

import pytest

from paycore import limits
from paycore.ledger.model import TransferFlags
from tests.ledger.posting_kit import CR_LIMIT, DR_LIMIT, account, ledger, one, req

F = TransferFlags
MAX = limits.AMOUNT_MAX


# -- limits on what an account may pay or receive ------------------------------------------------


def test_an_account_limited_to_its_credits_may_spend_exactly_them() -> None:
    # 100 received; 30 spent and 20 held: 50 left.
    p = ledger(account("L", DR_LIMIT, dpo=30, dp=20, cpo=100))

    assert one(p, req("t1", "L", amount=51)) == "exceeds_credits"
    assert one(p, req("t2", "L", amount=50)) == "created"


def test_held_credits_do_not_count_as_what_a_limited_account_may_spend() -> None:
    p = ledger(account("L", DR_LIMIT, cp=100, cpo=10))

    assert one(p, req("t1", "L", amount=11)) == "exceeds_credits"


def test_a_hold_counts_against_a_limited_accounts_credits_too() -> None:
    p = ledger(account("L", DR_LIMIT, cpo=100))

    assert one(p, req("h1", "L", amount=101, flags=F.PENDING)) == "exceeds_credits"
    assert one(p, req("h2", "L", amount=100, flags=F.PENDING)) == "created"


def test_an_account_limited_to_its_debits_may_receive_exactly_them() -> None:
    # 100 paid out; 30 came back and 20 is on its way back: 50 more may arrive.
    p = ledger(account("D", CR_LIMIT, dpo=100, cpo=30, cp=20))

    assert one(p, req("t1", cr="D", amount=51)) == "exceeds_debits"
    assert one(p, req("t2", cr="D", amount=50)) == "created"


def test_held_debits_do_not_count_as_what_a_limited_account_may_receive() -> None:
    p = ledger(account("D", CR_LIMIT, dp=100, dpo=10))

    assert one(p, req("t1", cr="D", amount=11)) == "exceeds_debits"


def test_a_limit_on_one_side_does_not_apply_on_the_other() -> None:
    # An account limited to its credits may receive anything; one limited to its debits
    # may pay anything.
    p = ledger(account("L", DR_LIMIT), account("D", CR_LIMIT))

    assert one(p, req("t1", "D", "L", amount=500)) == "created"


# -- overflow of 64-bit balances ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pending", "posted", "flags", "result"),
    [
        (MAX - 10, 0, F.PENDING, "overflows_debits_pending"),
        (0, MAX - 10, F.NONE, "overflows_debits_posted"),
        (MAX - 20, 10, F.NONE, "overflows_debits"),
        (10, MAX - 20, F.PENDING, "overflows_debits"),
    ],
)
def test_a_debit_balance_may_reach_the_maximum_but_not_pass_it(
    pending: int, posted: int, flags: F, result: str
) -> None:
    p = ledger(account("A", dp=pending, dpo=posted))

    assert one(p, req("t1", amount=10, flags=flags)) == "created"
    assert one(p, req("t2", amount=1, flags=flags)) == result


@pytest.mark.parametrize(
    ("pending", "posted", "flags", "result"),
    [
        (MAX - 10, 0, F.PENDING, "overflows_credits_pending"),
        (0, MAX - 10, F.NONE, "overflows_credits_posted"),
        (MAX - 20, 10, F.NONE, "overflows_credits"),
        (10, MAX - 20, F.PENDING, "overflows_credits"),
    ],
)
def test_a_credit_balance_may_reach_the_maximum_but_not_pass_it(
    pending: int, posted: int, flags: F, result: str
) -> None:
    p = ledger(account("B", cp=pending, cpo=posted))

    assert one(p, req("t1", amount=10, flags=flags)) == "created"
    assert one(p, req("t2", amount=1, flags=flags)) == result


def test_a_full_posted_balance_does_not_stop_a_hold_on_its_own() -> None:
    # Posted debits at MAX - 10: a hold of 10 fits pending and the total exactly.
    p = ledger(account("A", dpo=MAX - 10), account("B", cpo=MAX - 10))

    assert one(p, req("h1", amount=10, flags=F.PENDING)) == "created"


def test_a_full_pending_balance_does_not_stop_a_posted_transfer_on_its_own() -> None:
    p = ledger(account("A", dp=MAX - 10), account("B", cp=MAX - 10))

    assert one(p, req("t1", amount=10)) == "created"


# -- replays of a stored id -------------------------------------------------------------------


def test_a_replay_of_a_clamped_balancing_transfer_asking_the_same_or_more_is_exists() -> None:
    p = ledger(account("A", cpo=250))
    assert one(p, req("t1", amount=1000, flags=F.BALANCING_DEBIT)) == "created"

    assert one(p, req("t1", amount=1000, flags=F.BALANCING_DEBIT)) == "exists"
    assert one(p, req("t1", amount=250, flags=F.BALANCING_DEBIT)) == "exists"
    assert one(p, req("t1", amount=249, flags=F.BALANCING_DEBIT)) == (
        "exists_with_different_amount"
    )


def test_a_replay_of_a_plain_transfer_must_ask_the_same_amount() -> None:
    p = ledger()
    one(p, req("t1", amount=100))

    assert one(p, req("t1", amount=101)) == "exists_with_different_amount"
    assert one(p, req("t1", amount=99)) == "exists_with_different_amount"


def test_a_replayed_post_may_leave_out_what_it_takes_from_the_hold() -> None:
    p = ledger()
    one(p, req("h1", flags=F.PENDING, code=3))
    post = req("p1", None, None, None, flags=F.POST_PENDING, currency=None, pending_id="h1")
    assert one(p, post) == "created"

    assert one(p, post) == "exists"


def test_a_replay_without_a_code_matches_any_stored_code() -> None:
    p = ledger()
    one(p, req("t1", code=7))

    assert one(p, req("t1", code=0)) == "exists"
    assert one(p, req("t1", code=7)) == "exists"
    assert one(p, req("t1", code=8)) == "exists_with_different_code"


def test_a_replay_without_metadata_matches_a_transfer_stored_without_metadata() -> None:
    p = ledger()
    one(p, req("t1"))

    assert one(p, req("t1", metadata={})) == "exists"
    assert one(p, req("t1", metadata=None)) == "exists"
    assert one(p, req("t1", metadata={"a": 1})) == "exists_with_different_metadata"


def test_a_replay_compares_flags_before_anything_else() -> None:
    p = ledger()
    one(p, req("t1"))

    assert one(p, req("t1", "B", "A", 5, flags=F.LINKED, code=3)) == ("linked_event_chain_open")
    assert one(p, req("t1", "B", "A", 5, flags=F.PENDING, code=3)) == (
        "exists_with_different_flags"
    )
    assert one(p, req("t1", "B", "A", 5, code=3)) == "exists_with_different_debit_account_id"
    assert one(p, req("t1", "A", "C", 5, code=3)) == "exists_with_different_credit_account_id"
    assert one(p, req("t1", "A", "B", 5, currency="USD")) == "exists_with_different_amount"
    assert one(p, req("t1", "A", "B", 100, currency="USD")) == "exists_with_different_currency"


def test_a_replay_may_leave_out_both_accounts() -> None:
    p = ledger()
    one(p, req("t1"))

    assert one(p, req("t1", None, None)) == "exists"


def test_a_replay_is_answered_before_the_id_is_checked_for_failure() -> None:
    p = ledger()
    one(p, req("t1"))
    p.failed["t1"] = "exceeds_credits"

    assert one(p, req("t1")) == "exists"
