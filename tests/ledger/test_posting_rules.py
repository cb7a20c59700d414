"""The posting rules, called directly on `Posting` with accounts in memory (no database).

test_result_codes.py drives every result code through the service; these pin the exact
boundaries and the arithmetic of balancing and limits, where a neighbour value (one past a
limit, a balance that is not zero) is what tells a rule from a near miss.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paycore import limits
from tests.ledger.posting_kit import CR_LIMIT, MAX, F, account, ledger, one, req

# -- the request alone ------------------------------------------------------------------------


def test_a_code_exactly_at_its_maximum_is_accepted_and_stored() -> None:
    p = ledger()

    assert one(p, req(code=limits.CODE_MAX)) == "created"
    assert p.transfers["t1"].code == limits.CODE_MAX


def test_a_code_one_past_its_maximum_is_refused() -> None:
    assert one(ledger(), req(code=limits.CODE_MAX + 1)) == "code_must_not_exceed_max"


def test_a_code_of_zero_is_accepted() -> None:
    assert one(ledger(), req(code=0)) == "created"


def test_an_amount_exactly_at_the_maximum_is_accepted() -> None:
    assert one(ledger(), req(amount=MAX)) == "created"


def test_an_amount_of_one_is_accepted() -> None:
    assert one(ledger(), req(amount=1)) == "created"


def test_an_id_exactly_at_its_maximum_length_is_accepted() -> None:
    assert one(ledger(), req("x" * limits.ID_LENGTH_MAX)) == "created"
    assert one(ledger(), req("x" * (limits.ID_LENGTH_MAX + 1))) == "id_too_long"


def test_pending_with_void_pending_is_refused_as_mutually_exclusive() -> None:
    flags = F.PENDING | F.VOID_PENDING
    assert one(ledger(), req(flags=flags, pending_id="h1")) == "flags_are_mutually_exclusive"


def test_a_balancing_void_is_refused_as_mutually_exclusive() -> None:
    flags = F.VOID_PENDING | F.BALANCING_CREDIT
    assert one(ledger(), req(flags=flags, pending_id="h1")) == "flags_are_mutually_exclusive"


def test_a_hold_may_carry_a_timeout() -> None:
    p = ledger()

    assert one(p, req(flags=F.PENDING, timeout_s=1)) == "created"
    assert p.transfers["t1"].timeout_s == 1


def test_a_post_without_amount_or_currency_is_structurally_fine() -> None:
    """Post and void take both from the hold: leaving them out is no error of its own."""
    p = ledger()
    assert one(p, req("h1", flags=F.PENDING)) == "created"

    assert one(p, req("p1", None, None, None, flags=F.POST_PENDING, currency=None,
                      pending_id="h1")) == "created"  # fmt: skip


def test_an_unknown_currency_on_a_post_is_refused_before_the_hold_is_looked_up() -> None:
    post = req("p1", None, None, None, flags=F.POST_PENDING, currency="ZZZ", pending_id="nope")
    assert one(ledger(), post) == "unknown_currency"


def test_a_negative_timeout_on_a_hold_overflows_the_timeout() -> None:
    assert one(ledger(), req(flags=F.PENDING, timeout_s=-1)) == "overflows_timeout"


def test_a_hold_at_the_longest_timeout_is_accepted_and_one_second_more_is_not() -> None:
    longest = limits.TRANSFER_TIMEOUT_S_MAX
    p = ledger()

    assert one(p, req("h1", flags=F.PENDING, timeout_s=longest)) == "created"
    assert one(p, req("h2", flags=F.PENDING, timeout_s=longest + 1)) == "overflows_timeout"


# -- balancing transfers ------------------------------------------------------------------------


def test_a_balancing_debit_takes_only_what_the_debit_account_holds_net_of_its_holds() -> None:
    # Credits 500, debits posted 100, debits held 150: 250 may still leave.
    p = ledger(account("A", dpo=100, dp=150, cpo=500))

    assert one(p, req(amount=1000, flags=F.BALANCING_DEBIT)) == "created"
    assert p.transfers["t1"].amount == 250
    assert p.accounts["A"].debits_posted == 350


def test_a_balancing_debit_under_the_room_moves_what_was_asked() -> None:
    p = ledger(account("A", cpo=500))

    assert one(p, req(amount=40, flags=F.BALANCING_DEBIT)) == "created"
    assert p.transfers["t1"].amount == 40


def test_a_balancing_debit_with_no_room_left_exceeds_credits() -> None:
    p = ledger(account("A", dpo=100, cpo=100))

    assert one(p, req(amount=10, flags=F.BALANCING_DEBIT)) == "exceeds_credits"
    assert p.accounts["A"].debits_posted == 100


def test_a_balancing_debit_from_an_overdrawn_account_exceeds_credits() -> None:
    # An account without limits can be overdrawn: its room is negative, not a refund.
    p = ledger(account("A", dpo=100, cpo=30))

    assert one(p, req(amount=10, flags=F.BALANCING_DEBIT)) == "exceeds_credits"
    assert p.transfers == {}


def test_a_balancing_debit_with_one_unit_of_room_moves_one() -> None:
    p = ledger(account("A", dpo=99, cpo=100))

    assert one(p, req(amount=10, flags=F.BALANCING_DEBIT)) == "created"
    assert p.transfers["t1"].amount == 1


def test_a_balancing_credit_takes_only_what_the_credit_account_may_still_receive() -> None:
    # Debits 500, credits posted 100, credits held 150: 250 may still arrive.
    p = ledger(account("B", CR_LIMIT, dpo=500, cpo=100, cp=150))

    assert one(p, req(amount=1000, flags=F.BALANCING_CREDIT)) == "created"
    assert p.transfers["t1"].amount == 250
    assert p.accounts["B"].credits_posted == 350


def test_a_balancing_credit_under_the_room_moves_what_was_asked() -> None:
    p = ledger(account("B", CR_LIMIT, dpo=500))

    assert one(p, req(amount=40, flags=F.BALANCING_CREDIT)) == "created"
    assert p.transfers["t1"].amount == 40


def test_a_balancing_credit_with_no_room_left_exceeds_debits() -> None:
    p = ledger(account("B", CR_LIMIT, dpo=100, cpo=60, cp=40))

    assert one(p, req(amount=10, flags=F.BALANCING_CREDIT)) == "exceeds_debits"
    assert p.accounts["B"].credits_posted == 60


def test_a_balancing_credit_into_an_account_past_its_debits_exceeds_debits() -> None:
    p = ledger(account("B", dpo=30, cpo=100))

    assert one(p, req(amount=10, flags=F.BALANCING_CREDIT)) == "exceeds_debits"
    assert p.transfers == {}


def test_a_balancing_credit_with_one_unit_of_room_moves_one() -> None:
    p = ledger(account("B", CR_LIMIT, dpo=100, cpo=99))

    assert one(p, req(amount=10, flags=F.BALANCING_CREDIT)) == "created"
    assert p.transfers["t1"].amount == 1


def test_a_transfer_balancing_both_sides_takes_the_smaller_room() -> None:
    p = ledger(account("A", cpo=70), account("B", CR_LIMIT, dpo=50))

    flags = F.BALANCING_DEBIT | F.BALANCING_CREDIT
    assert one(p, req(amount=100, flags=flags)) == "created"
    assert p.transfers["t1"].amount == 50


def test_a_balancing_hold_takes_pending_balances() -> None:
    p = ledger(account("A", cpo=70))

    assert one(p, req(amount=100, flags=F.BALANCING_DEBIT | F.PENDING)) == "created"
    assert p.accounts["A"].debits_pending == 70
    assert p.accounts["B"].credits_pending == 70


@given(
    credits=st.integers(0, 10**6),
    debits_posted=st.integers(0, 10**6),
    debits_pending=st.integers(0, 10**6),
    asked=st.integers(1, 10**6),
)
def test_a_balancing_debit_moves_the_smaller_of_asked_and_room_or_fails(
    credits: int, debits_posted: int, debits_pending: int, asked: int
) -> None:
    p = ledger(account("A", cpo=credits, dpo=debits_posted, dp=debits_pending))
    room = credits - debits_posted - debits_pending

    result = one(p, req(amount=asked, flags=F.BALANCING_DEBIT))

    if room <= 0:
        assert result == "exceeds_credits"
    else:
        assert result == "created"
        assert p.transfers["t1"].amount == min(asked, room)
        assert p.accounts["A"].debits_posted == debits_posted + min(asked, room)
