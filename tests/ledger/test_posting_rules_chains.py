"""Linked chains, remembered failures and an API caller's reach in `Posting`, called
directly (no database)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import example, given
from hypothesis import strategies as st

from paycore.ledger.model import (
    AccountOrigin,
    AccountState,
    AccountStatus,
    Caller,
    TransferFlags,
    TransferRequest,
    TransferStatus,
)
from paycore.ledger.posting import Posting
from tests.ledger.posting_kit import DR_LIMIT, account, ledger, one, req

F = TransferFlags


def linked(request: TransferRequest) -> TransferRequest:
    return replace(request, flags=request.flags | F.LINKED)


def snapshot(p: Posting) -> dict[str, tuple[int, int, int, int]]:
    return {a.id: a.balances() for a in p.accounts.values()}


# -- linked chains ----------------------------------------------------------------------------


def test_a_chain_that_breaks_undoes_every_balance_transfer_and_entry_before_it() -> None:
    p = ledger(account("L", DR_LIMIT), account("C"))
    one(p, req("h0", flags=F.PENDING))
    before, created, entries = snapshot(p), list(p.created), list(p.entries)

    results = p.apply([
        linked(req("t1", amount=10)),
        linked(req("p1", None, None, None, flags=F.POST_PENDING, currency=None, pending_id="h0")),
        linked(req("h1", "A", "C", 5, flags=F.PENDING)),
        req("t2", "L", "B", 1),
    ])  # fmt: skip

    assert results == ["linked_event_failed"] * 3 + ["exceeds_credits"]
    assert snapshot(p) == before
    assert p.transfers["h0"].status == TransferStatus.PENDING
    assert set(p.transfers) == {"h0"}
    assert p.created == created
    assert p.entries == entries


def test_a_chain_that_breaks_on_its_first_transfer_fails_the_rest_unapplied() -> None:
    p = ledger(account("L", DR_LIMIT))

    results = p.apply([linked(req("t1", "L")), req("t2")])

    assert results == ["exceeds_credits", "linked_event_failed"]
    assert snapshot(p)["A"] == (0, 0, 0, 0)


def test_a_broken_chain_leaves_the_chains_and_transfers_around_it_applied() -> None:
    p = ledger(account("L", DR_LIMIT))

    results = p.apply([
        linked(req("t1", amount=1)), req("t2", amount=2),
        linked(req("t3", amount=4)), req("t4", "L"),
        linked(req("t5", amount=8)), req("t6", amount=16),
        req("t7", amount=32),
    ])  # fmt: skip

    assert results == ["created", "created", "linked_event_failed", "exceeds_credits",
                       "created", "created", "created"]  # fmt: skip
    assert snapshot(p)["A"] == (0, 1 + 2 + 8 + 16 + 32, 0, 0)


def test_a_chain_left_open_fails_whole_and_its_last_transfer_says_why() -> None:
    p = ledger()

    results = p.apply([req("t0"), linked(req("t1")), linked(req("t2")), linked(req("t3"))])

    assert results == ["created", "linked_event_failed", "linked_event_failed",
                       "linked_event_chain_open"]  # fmt: skip
    assert set(p.transfers) == {"t0"}


def test_a_batch_of_one_open_link_is_chain_open() -> None:
    assert ledger().apply([linked(req())]) == ["linked_event_chain_open"]


def test_a_whole_chain_of_replays_and_new_transfers_is_applied() -> None:
    p = ledger()
    p.apply([linked(req("t1")), req("t0")])

    assert p.apply([linked(req("t1")), linked(req("t2")), req("t3")]) == [
        "exists", "created", "created"
    ]  # fmt: skip
    assert snapshot(p)["A"] == (0, 400, 0, 0)


def test_a_lone_transfer_keeps_no_undo_log() -> None:
    # Only a linked chain is undone: lone transfers fail before changing anything, and
    # keeping an undo log for each of thousands would only cost memory.
    p = ledger()
    p.apply([req("t0")])
    assert p._undo == []
    p.apply([linked(req("t1")), req("t2")])  # a chain keeps one, and is done with it
    kept = len(p._undo)

    p.apply([req("t3"), req("h1", flags=F.PENDING)])
    p.apply([req("p1", None, None, None, flags=F.POST_PENDING, currency=None, pending_id="h1")])

    assert len(p._undo) == kept


# -- remembered failures ----------------------------------------------------------------------


def test_a_failure_that_depends_on_the_ledger_is_remembered_for_its_id() -> None:
    p = ledger(account("L", DR_LIMIT))

    assert one(p, req("t1", "L")) == "exceeds_credits"
    assert p.failed == {"t1": "exceeds_credits"}
    assert p.failures == {"t1": "exceeds_credits"}
    assert one(p, req("t1")) == "id_already_failed"


def test_a_failure_inside_a_chain_is_remembered_for_the_transfer_that_broke_it() -> None:
    p = ledger(account("L", DR_LIMIT))

    p.apply([linked(req("t1")), req("t2", "L")])

    assert p.failures == {"t2": "exceeds_credits"}
    assert one(p, req("t1")) == "created"


def test_a_failure_of_the_request_alone_is_not_remembered() -> None:
    p = ledger()

    assert one(p, req("t1", amount=0)) == "amount_must_be_positive"
    assert one(p, req("t2", "A", "A")) == "accounts_must_be_different"
    assert p.failures == {}
    assert one(p, req("t1")) == "created"


def test_an_id_that_failed_before_is_not_remembered_again() -> None:
    p = ledger()
    p.failed["t1"] = "exceeds_credits"

    assert one(p, req("t1")) == "id_already_failed"
    assert p.failures == {}


def test_a_failed_id_is_refused_even_once_it_would_succeed() -> None:
    p = Posting(accounts={"A": account("A"), "B": account("B")}, transfers={},
                failed={"t1": "exceeds_credits"}, now=ledger().now)  # fmt: skip

    assert one(p, req("t1")) == "id_already_failed"
    assert p.transfers == {}


# -- account status ---------------------------------------------------------------------------


def test_a_closed_debit_or_credit_account_is_refused() -> None:
    closed = AccountStatus.CLOSED
    p = ledger(account("X", status=closed))

    assert one(p, req("t1", "X", "B")) == "account_closed"
    assert one(p, req("t2", "A", "X")) == "account_closed"


def test_a_frozen_credit_account_takes_money_a_bank_confirmed_from_a_system_account() -> None:
    p = ledger(account("W", status=AccountStatus.FROZEN))

    assert one(p, replace(req("t1", "A", "W"), bank_confirmed=True)) == "created"
    assert one(p, req("t2", "A", "W")) == "account_frozen"


def test_a_currency_mismatch_on_either_side_is_refused() -> None:
    p = ledger(account("U", currency="USD"))

    assert one(p, req("t1", "U", "B")) == "currency_mismatch"
    assert one(p, req("t2", "A", "U")) == "currency_mismatch"
    assert one(p, req("t3", "U", "B", currency="USD")) == "currency_mismatch"


# -- an API caller's reach --------------------------------------------------------------------


def api_ledger() -> Posting:
    """Accounts m1 may use (M1a, M1b), another merchant's (M2) and a flow's (FLOW)."""

    def api(id: str, owner: str) -> AccountState:
        return replace(account(id), origin=AccountOrigin.API, owner_id=owner)

    return ledger(api("M1a", "m1"), api("M1b", "m1"), api("M2", "m2"), account("FLOW"))


M1 = Caller(merchant_id="m1")


def test_a_caller_moves_money_between_the_accounts_it_reaches() -> None:
    p = api_ledger()

    assert p.apply([req("t1", "M1a", "M1b")], M1) == ["created"]


def test_an_account_out_of_a_callers_reach_is_as_missing_on_either_side() -> None:
    p = api_ledger()

    assert p.apply([req("t1", "M2", "M1b")], M1) == ["debit_account_not_found"]
    assert p.apply([req("t2", "M1a", "FLOW")], M1) == ["credit_account_not_found"]
    assert p.apply([req("t3", "M1a", "M2")], Caller(merchant_id=None)) == ["created"]


def test_a_hold_out_of_a_callers_reach_is_as_missing() -> None:
    p = api_ledger()
    assert p.apply([req("h1", "M2", "M1a", flags=F.PENDING)]) == ["created"]  # a flow's hold
    assert p.apply([req("h2", "M1a", "M1b", flags=F.PENDING)], M1) == ["created"]

    post = req("p1", None, None, None, flags=F.POST_PENDING, currency=None, pending_id="h1")
    assert p.apply([post], M1) == ["pending_transfer_not_found"]
    assert p.apply([replace(post, id="p2", pending_id="h2")], M1) == ["created"]


def test_a_caller_is_forgotten_after_its_batch() -> None:
    p = api_ledger()
    p.apply([req("t1", "M1a", "M1b")], M1)

    assert p.apply([req("t2", "M2", "FLOW")]) == ["created"]
    assert p._caller is None


@given(ids=st.lists(st.text(min_size=1, max_size=8), max_size=4))
@example(ids=["XXXX"])  # a placeholder-looking id is an id like any other
def test_a_transfer_naming_no_account_finds_none_whatever_accounts_exist(ids: list[str]) -> None:
    p = api_ledger()
    for id in ids:
        p.accounts[id] = replace(account(id), origin=AccountOrigin.API, owner_id="m1")

    assert p.apply([req("t1", None, "M1b")]) == ["debit_account_not_found"]
    assert p.apply([req("t2", "M1a", None)], M1) == ["credit_account_not_found"]
    assert p.apply([req("t3", None, "M1b")], M1) == ["debit_account_not_found"]
    assert p.apply([req("t4", "M1a", None)]) == ["credit_account_not_found"]
