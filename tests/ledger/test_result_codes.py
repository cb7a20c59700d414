"""Every transfer result code, produced through `Ledger.create_transfers`.

Scenarios are a table: each names the steps it takes (batches with the exact
results they must return, clock moves, account status changes) and the
balances every standard account must have at the end. A transfer that fails
must leave no trace: no stored transfer and no balance change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pytest
from sqlalchemy import Engine, func, select

from paycore import limits
from paycore.clock import ManualClock
from paycore.ledger import store
from paycore.ledger.model import (
    RESULTS,
    AccountFlags,
    AccountStatus,
    TransferFlags,
    TransferRequest,
    TransferStatus,
)
from paycore.ledger.service import AccountRequest, Ledger
from tests.ledger.posting_kit import req as t

F = TransferFlags
MAX = limits.AMOUNT_MAX
Balances = tuple[
    int, int, int, int
]  # debits_pending, debits_posted, credits_pending, credits_posted

ACCOUNTS: dict[str, AccountRequest] = {
    "A": AccountRequest(id="A", currency="CNY"),
    "B": AccountRequest(id="B", currency="CNY"),
    "C": AccountRequest(id="C", currency="CNY"),
    # L can only spend what it received; D can only receive what it paid out.
    "L": AccountRequest(id="L", currency="CNY", flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    "D": AccountRequest(id="D", currency="CNY", flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
    "U": AccountRequest(id="U", currency="USD"),
    # W is owned (a merchant's wallet); the others are system accounts (no owner).
    "W": AccountRequest(id="W", currency="CNY", owner_id="m1"),
}


def bal(dp: int = 0, dpo: int = 0, cp: int = 0, cpo: int = 0) -> Balances:
    return (dp, dpo, cp, cpo)


# -- building requests -----------------------------------------------------------------


def hold(
    id: str,
    dr: str = "A",
    cr: str = "B",
    amount: int = 100,
    *,
    flags: TransferFlags = F.NONE,
    timeout_s: int = 0,
) -> TransferRequest:
    return t(id, dr, cr, amount, flags=flags | F.PENDING, timeout_s=timeout_s)


def post(
    id: str,
    pending_id: str,
    amount: int | None = None,
    *,
    flags: TransferFlags = F.NONE,
    dr: str | None = None,
    cr: str | None = None,
    currency: str | None = None,
) -> TransferRequest:
    return t(
        id, dr, cr, amount, flags=flags | F.POST_PENDING, currency=currency, pending_id=pending_id
    )


def void(
    id: str, pending_id: str, amount: int | None = None, *, flags: TransferFlags = F.NONE
) -> TransferRequest:
    return t(
        id, None, None, amount, flags=flags | F.VOID_PENDING, currency=None, pending_id=pending_id
    )


def linked(request: TransferRequest) -> TransferRequest:
    return replace(request, flags=request.flags | F.LINKED)


def arrival(id: str, dr: str = "A", cr: str = "W", amount: int = 100) -> TransferRequest:
    """Money a bank confirmed arriving, as a flow records it (a pay-in paid)."""
    return replace(t(id, dr, cr, amount), bank_confirmed=True)


# -- the scenario table -----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Move the clock, change account statuses, then submit `batch` expecting `results`."""

    batch: Sequence[TransferRequest] = ()
    results: Sequence[str] = ()
    advance_s: float = 0
    statuses: Mapping[str, AccountStatus] = field(default_factory=dict)


def ok(*batch: TransferRequest) -> Step:
    return Step(batch, ["created"] * len(batch))


def advance(seconds: float) -> Step:
    return Step(advance_s=seconds)


def statuses(**by_account: AccountStatus) -> Step:
    return Step(statuses=by_account)


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: Sequence[Step]
    balances: Mapping[str, Balances] = field(default_factory=dict)  # accounts not named: zero
    transfers: Mapping[str, tuple[TransferStatus, int]] = field(default_factory=dict)


def fails(
    name: str,
    request: TransferRequest,
    result: str,
    *setup: Step,
    balances: Mapping[str, Balances] | None = None,
) -> Scenario:
    """One transfer that fails with `result` after `setup`, changing nothing."""
    return Scenario(name, [*setup, Step([request], [result])], balances or {})


FUNDED_L = ok(t("fund", "A", "L", 70))
FUNDED_L_BALANCES = {"A": bal(dpo=70), "L": bal(cpo=70)}
HOLD = ok(hold("h1"))
HOLD_BALANCES = {"A": bal(dp=100), "B": bal(cp=100)}
PAID = ok(t("t1", code=7, metadata={"order": "o-1"}))
PAID_BALANCES = {"A": bal(dpo=100), "B": bal(cpo=100)}


SCENARIOS: list[Scenario] = [
    # -- created and linked chains --
    Scenario(
        "a_transfer_is_created", [ok(t("t1"))], PAID_BALANCES, {"t1": (TransferStatus.POSTED, 100)}
    ),
    Scenario(
        "a_linked_chain_is_created_whole",
        [ok(linked(t("t1")), linked(t("t2", amount=20)), t("t3", "A", "C", 3))],
        {"A": bal(dpo=123), "B": bal(cpo=120), "C": bal(cpo=3)},
    ),
    Scenario(
        "a_failure_in_the_middle_of_a_chain_rolls_back_its_earlier_transfers",
        [
            Step(
                [linked(t("t1")), linked(t("t2", "L", "B")), t("t3", amount=50)],
                ["linked_event_failed", "exceeds_credits", "linked_event_failed"],
            )
        ],
    ),
    Scenario(
        "a_failed_chain_does_not_undo_transfers_before_or_after_it",
        [
            Step(
                [
                    t("t0", amount=1),
                    linked(t("t1", amount=10)),
                    t("t2", "A", "A", 10),
                    t("t3", "A", "C", 5),
                ],
                ["created", "linked_event_failed", "accounts_must_be_different", "created"],
            )
        ],
        {"A": bal(dpo=6), "B": bal(cpo=1), "C": bal(cpo=5)},
    ),
    Scenario(
        "a_failure_at_the_end_of_a_chain_rolls_back_the_whole_chain",
        [
            Step(
                [linked(t("t1")), linked(hold("t2")), t("t3", "nope", "B")],
                ["linked_event_failed", "linked_event_failed", "debit_account_not_found"],
            )
        ],
    ),
    Scenario(
        "a_chain_still_open_at_the_end_of_the_batch_fails",
        [Step([linked(t("t1"))], ["linked_event_chain_open"])],
    ),
    Scenario(
        "a_chain_left_open_fails_without_touching_the_transfer_before_it",
        [
            Step(
                [t("t1", amount=10), linked(t("t2", amount=20)), linked(t("t3", amount=30))],
                ["created", "linked_event_failed", "linked_event_chain_open"],
            )
        ],
        {"A": bal(dpo=10), "B": bal(cpo=10)},
    ),
    Scenario(
        "a_replayed_chain_answers_exists_for_each_transfer_and_moves_nothing",
        [
            ok(linked(t("t1")), t("t2", amount=20)),
            Step([linked(t("t1")), t("t2", amount=20)], ["exists", "exists"]),
        ],
        {"A": bal(dpo=120), "B": bal(cpo=120)},
    ),
    Scenario(
        "a_chain_that_replays_one_transfer_creates_the_new_ones",
        [
            ok(linked(t("t1")), t("t2", amount=20)),
            Step([linked(t("t1")), t("t3", amount=3)], ["exists", "created"]),
        ],
        {"A": bal(dpo=123), "B": bal(cpo=123)},
    ),
    Scenario(
        "a_chain_with_a_replayed_transfer_still_fails_whole",
        [
            ok(linked(t("t1")), t("t2", amount=20)),
            Step(
                [linked(t("t1")), linked(t("t3", amount=3)), t("t4", "L", "B")],
                ["linked_event_failed", "linked_event_failed", "exceeds_credits"],
            ),
        ],
        {"A": bal(dpo=120), "B": bal(cpo=120)},
        {"t1": (TransferStatus.POSTED, 100)},
    ),
    Scenario(
        "a_failed_chain_rolls_back_the_post_of_a_hold_which_can_be_posted_later",
        [
            HOLD,
            Step(
                [linked(post("p1", "h1")), t("t2", "L", "B")],
                ["linked_event_failed", "exceeds_credits"],
            ),
            ok(post("p1", "h1", 40)),
        ],
        {"A": bal(dpo=40), "B": bal(cpo=40)},
        {"h1": (TransferStatus.POSTED_PENDING, 100), "p1": (TransferStatus.POSTED, 40)},
    ),
    Scenario(
        "a_failed_chain_rolls_back_a_hold_created_and_voided_inside_it",
        [
            Step(
                [linked(hold("h1")), linked(void("v1", "h1")), t("t3", "A", "U")],
                ["linked_event_failed", "linked_event_failed", "currency_mismatch"],
            )
        ],
    ),
    # -- validation of the request alone --
    fails("an_empty_id_is_refused", t(""), "id_must_not_be_empty"),
    fails("an_id_over_64_characters_is_refused", t("x" * 65), "id_too_long"),
    Scenario("an_id_of_64_characters_is_accepted", [ok(t("x" * 64))], PAID_BALANCES),
    fails(
        "pending_and_post_pending_together_are_refused",
        t("t1", flags=F.PENDING | F.POST_PENDING, pending_id="h1"),
        "flags_are_mutually_exclusive",
    ),
    fails(
        "post_pending_and_void_pending_together_are_refused",
        post("p1", "h1", flags=F.VOID_PENDING),
        "flags_are_mutually_exclusive",
        HOLD,
        balances=HOLD_BALANCES,
    ),
    fails(
        "a_balancing_post_pending_is_refused",
        post("p1", "h1", flags=F.BALANCING_DEBIT),
        "flags_are_mutually_exclusive",
        HOLD,
        balances=HOLD_BALANCES,
    ),
    fails(
        "a_post_pending_without_pending_id_is_refused",
        t("p1", None, None, None, flags=F.POST_PENDING, currency=None),
        "pending_id_must_be_set",
    ),
    fails(
        "a_void_pending_without_pending_id_is_refused",
        t("v1", None, None, None, flags=F.VOID_PENDING, currency=None),
        "pending_id_must_be_set",
    ),
    fails(
        "a_plain_transfer_with_a_pending_id_is_refused",
        t("t1", pending_id="h1"),
        "pending_id_must_not_be_set",
        HOLD,
        balances=HOLD_BALANCES,
    ),
    fails("a_post_pending_of_itself_is_refused", post("p1", "p1"), "pending_id_must_be_different"),
    fails(
        "a_timeout_on_a_single_phase_transfer_is_refused",
        t("t1", timeout_s=60),
        "timeout_reserved_for_pending_transfer",
    ),
    fails("a_zero_amount_is_refused", t("t1", amount=0), "amount_must_be_positive"),
    fails("a_negative_amount_is_refused", t("t1", amount=-5), "amount_must_be_positive"),
    fails("a_missing_amount_is_refused", t("t1", amount=None), "amount_must_be_positive"),
    fails(
        "a_zero_amount_post_is_refused",
        post("p1", "h1", 0),
        "amount_must_be_positive",
        HOLD,
        balances=HOLD_BALANCES,
    ),
    fails(
        "an_amount_over_the_64_bit_maximum_is_refused",
        t("t1", amount=MAX + 1),
        "amount_must_not_exceed_max",
    ),
    fails(
        "a_code_over_the_32_bit_maximum_is_refused",
        t("t1", code=limits.CODE_MAX + 1),
        "code_must_not_exceed_max",
    ),
    fails("a_negative_code_is_refused", t("t1", code=-1), "code_must_not_exceed_max"),
    fails("an_unknown_currency_is_refused", t("t1", currency="ZZZ"), "unknown_currency"),
    fails("a_missing_currency_is_refused", t("t1", currency=None), "unknown_currency"),
    # -- replays of a stored id --
    Scenario(
        "an_identical_replay_is_exists_and_moves_nothing",
        [PAID, Step([t("t1", code=7, metadata={"order": "o-1"})], ["exists"])],
        PAID_BALANCES,
        {"t1": (TransferStatus.POSTED, 100)},
    ),
    fails(
        "a_replay_with_other_flags_is_refused",
        t("t1", flags=F.PENDING, code=7),
        "exists_with_different_flags",
        PAID,
        balances=PAID_BALANCES,
    ),
    fails(
        "a_replayed_post_of_another_hold_is_refused",
        post("p1", "h2"),
        "exists_with_different_pending_id",
        ok(hold("h1"), hold("h2", "A", "C", 5)),
        ok(post("p1", "h1")),
        balances={"A": bal(dp=5, dpo=100), "B": bal(cpo=100), "C": bal(cp=5)},
    ),
    fails(
        "a_replayed_hold_with_another_timeout_is_refused",
        hold("h1", timeout_s=120),
        "exists_with_different_timeout_s",
        ok(hold("h1", timeout_s=60)),
        balances=HOLD_BALANCES,
    ),
    fails(
        "a_replay_with_another_debit_account_is_refused",
        t("t1", "C", code=7, metadata={"order": "o-1"}),
        "exists_with_different_debit_account_id",
        PAID,
        balances=PAID_BALANCES,
    ),
    fails(
        "a_replay_with_another_credit_account_is_refused",
        t("t1", "A", "C", code=7, metadata={"order": "o-1"}),
        "exists_with_different_credit_account_id",
        PAID,
        balances=PAID_BALANCES,
    ),
    fails(
        "a_replay_with_another_amount_is_refused",
        t("t1", amount=101, code=7, metadata={"order": "o-1"}),
        "exists_with_different_amount",
        PAID,
        balances=PAID_BALANCES,
    ),
    fails(
        "a_replay_with_another_currency_is_refused",
        t("t1", currency="USD", code=7, metadata={"order": "o-1"}),
        "exists_with_different_currency",
        PAID,
        balances=PAID_BALANCES,
    ),
    fails(
        "a_replay_with_another_code_is_refused",
        t("t1", code=8, metadata={"order": "o-1"}),
        "exists_with_different_code",
        PAID,
        balances=PAID_BALANCES,
    ),
    fails(
        "a_replay_with_other_metadata_is_refused",
        t("t1", code=7, metadata={"order": "o-2"}),
        "exists_with_different_metadata",
        PAID,
        balances=PAID_BALANCES,
    ),
    Scenario(
        "the_same_id_twice_in_one_batch_is_created_then_exists",
        [Step([t("t1"), t("t1")], ["created", "exists"])],
        PAID_BALANCES,
    ),
    # -- ids that failed before --
    Scenario(
        "a_retry_after_exceeds_credits_is_id_already_failed_even_once_funded",
        [
            Step([t("t1", "L", "B", 50)], ["exceeds_credits"]),
            FUNDED_L,
            Step([t("t1", "L", "B", 50)], ["id_already_failed"]),
        ],
        FUNDED_L_BALANCES,
    ),
    Scenario(
        "a_retried_chain_whose_transfer_lacked_funds_still_fails_once_funded",
        [
            Step(
                [linked(t("t0", amount=5)), t("t1", "L", "B", 50)],
                ["linked_event_failed", "exceeds_credits"],
            ),
            FUNDED_L,
            Step(
                [linked(t("t0", amount=5)), t("t1", "L", "B", 50)],
                ["linked_event_failed", "id_already_failed"],
            ),
        ],
        FUNDED_L_BALANCES,
    ),
    Scenario(
        "a_retry_after_pending_transfer_not_found_is_id_already_failed_once_the_hold_exists",
        [
            Step([post("p1", "h1")], ["pending_transfer_not_found"]),
            HOLD,
            Step([post("p1", "h1")], ["id_already_failed"]),
        ],
        HOLD_BALANCES,
    ),
    Scenario(
        "a_retry_in_the_same_batch_after_a_transient_failure_is_id_already_failed",
        [
            Step(
                [t("t1", "L", "B", 50), t("fund", "A", "L", 70), t("t1", "L", "B", 50)],
                ["exceeds_credits", "created", "id_already_failed"],
            )
        ],
        FUNDED_L_BALANCES,
    ),
    Scenario(
        "a_retry_after_amount_must_be_positive_is_not_remembered",
        [Step([t("t1", amount=0)], ["amount_must_be_positive"]), ok(t("t1"))],
        PAID_BALANCES,
    ),
    Scenario(
        "a_retry_after_accounts_must_be_different_is_not_remembered",
        [Step([t("t1", "A", "A")], ["accounts_must_be_different"]), ok(t("t1"))],
        PAID_BALANCES,
    ),
    # -- accounts --
    fails(
        "a_transfer_from_an_account_to_itself_is_refused",
        t("t1", "A", "A"),
        "accounts_must_be_different",
    ),
    fails("an_unknown_debit_account_is_refused", t("t1", "nope", "B"), "debit_account_not_found"),
    fails("a_missing_debit_account_is_refused", t("t1", None, "B"), "debit_account_not_found"),
    fails("an_unknown_credit_account_is_refused", t("t1", "A", "nope"), "credit_account_not_found"),
    fails("a_transfer_between_currencies_is_refused", t("t1", "A", "U"), "currency_mismatch"),
    fails(
        "a_transfer_in_another_currency_than_its_accounts_is_refused",
        t("t1", currency="USD"),
        "currency_mismatch",
    ),
    fails(
        "a_frozen_debit_account_is_refused",
        t("t1"),
        "account_frozen",
        statuses(A=AccountStatus.FROZEN),
    ),
    fails(
        "a_frozen_credit_account_is_refused",
        t("t1"),
        "account_frozen",
        statuses(B=AccountStatus.FROZEN),
    ),
    fails(
        "a_closed_credit_account_is_refused",
        t("t1"),
        "account_closed",
        statuses(B=AccountStatus.CLOSED),
    ),
    fails(
        "a_closed_debit_account_is_refused",
        t("t1"),
        "account_closed",
        statuses(A=AccountStatus.CLOSED),
    ),
    # A hold taken before a freeze is committed money (a payout the bank may have paid):
    # it can still be posted or voided; the freeze stops only new holds and transfers.
    Scenario(
        "a_hold_on_a_frozen_debit_account_can_still_be_posted",
        [HOLD, statuses(A=AccountStatus.FROZEN), ok(post("p1", "h1"))],
        PAID_BALANCES,
        {"h1": (TransferStatus.POSTED_PENDING, 100), "p1": (TransferStatus.POSTED, 100)},
    ),
    Scenario(
        "a_hold_on_a_frozen_credit_account_can_still_be_posted_in_part",
        [HOLD, statuses(B=AccountStatus.FROZEN), ok(post("p1", "h1", 40))],
        {"A": bal(dpo=40), "B": bal(cpo=40)},
        {"h1": (TransferStatus.POSTED_PENDING, 100), "p1": (TransferStatus.POSTED, 40)},
    ),
    Scenario(
        "a_hold_on_a_frozen_account_can_be_voided",
        [HOLD, statuses(A=AccountStatus.FROZEN), ok(void("v1", "h1"))],
        transfers={"h1": (TransferStatus.VOIDED_PENDING, 100), "v1": (TransferStatus.VOIDED, 100)},
    ),
    fails(
        "a_frozen_account_takes_no_new_hold",
        hold("h1"),
        "account_frozen",
        statuses(A=AccountStatus.FROZEN),
    ),
    fails(
        "a_frozen_account_takes_no_new_hold_on_its_credit_side",
        hold("h1"),
        "account_frozen",
        statuses(B=AccountStatus.FROZEN),
    ),
    # Money a bank confirmed arriving is recorded in a frozen account (it stays frozen):
    # only out of a system account that is not frozen, and only as a plain transfer.
    Scenario(
        "money_a_bank_confirmed_arriving_is_recorded_in_a_frozen_account",
        [
            statuses(W=AccountStatus.FROZEN),
            ok(linked(arrival("t1", amount=90)), t("t2", "A", "C", 10)),
        ],
        {"A": bal(dpo=100), "W": bal(cpo=90), "C": bal(cpo=10)},
    ),
    Scenario(
        "money_arriving_in_a_frozen_account_is_recorded_once_when_replayed",
        [statuses(W=AccountStatus.FROZEN), ok(arrival("t1")), Step([arrival("t1")], ["exists"])],
        {"A": bal(dpo=100), "W": bal(cpo=100)},
    ),
    fails(
        "money_arriving_from_a_frozen_system_account_is_refused",
        arrival("t1"),
        "account_frozen",
        statuses(A=AccountStatus.FROZEN),
    ),
    fails(
        "money_arriving_from_an_owned_account_into_a_frozen_account_is_refused",
        arrival("t1", "W", "B"),
        "account_frozen",
        ok(t("fund", "A", "W", 100)),
        statuses(B=AccountStatus.FROZEN),
        balances={"A": bal(dpo=100), "W": bal(cpo=100)},
    ),
    fails(
        "money_arriving_as_a_hold_on_a_frozen_account_is_refused",
        replace(arrival("h1"), flags=F.PENDING),
        "account_frozen",
        statuses(W=AccountStatus.FROZEN),
    ),
    fails(
        "money_arriving_as_a_balancing_transfer_on_a_frozen_account_is_refused",
        replace(arrival("t1"), flags=F.BALANCING_CREDIT),
        "account_frozen",
        statuses(W=AccountStatus.FROZEN),
    ),
    fails(
        "money_arriving_in_a_closed_account_is_refused",
        arrival("t1"),
        "account_closed",
        statuses(W=AccountStatus.CLOSED),
    ),
    Scenario(
        "a_frozen_account_that_is_unfrozen_accepts_transfers_again",
        [statuses(A=AccountStatus.FROZEN), statuses(A=AccountStatus.ACTIVE), ok(t("t1"))],
        PAID_BALANCES,
    ),
    # -- two-phase transfers --
    Scenario(
        "a_hold_moves_pending_balances",
        [HOLD],
        HOLD_BALANCES,
        {"h1": (TransferStatus.PENDING, 100)},
    ),
    Scenario(
        "posting_a_hold_without_an_amount_posts_all_of_it",
        [HOLD, ok(post("p1", "h1"))],
        {"A": bal(dpo=100), "B": bal(cpo=100)},
        {"h1": (TransferStatus.POSTED_PENDING, 100), "p1": (TransferStatus.POSTED, 100)},
    ),
    Scenario(
        "posting_a_hold_with_its_own_accounts_and_amount_posts_it",
        [HOLD, ok(post("p1", "h1", 100, dr="A", cr="B", currency="CNY"))],
        {"A": bal(dpo=100), "B": bal(cpo=100)},
    ),
    Scenario(
        "posting_part_of_a_hold_releases_the_rest",
        [HOLD, ok(post("p1", "h1", 60))],
        {"A": bal(dpo=60), "B": bal(cpo=60)},
        {"h1": (TransferStatus.POSTED_PENDING, 100), "p1": (TransferStatus.POSTED, 60)},
    ),
    Scenario(
        "voiding_a_hold_releases_all_of_it",
        [HOLD, ok(void("v1", "h1"))],
        {},
        {"h1": (TransferStatus.VOIDED_PENDING, 100), "v1": (TransferStatus.VOIDED, 100)},
    ),
    Scenario("voiding_a_hold_with_its_exact_amount_voids_it", [HOLD, ok(void("v1", "h1", 100))]),
    Scenario(
        "a_hold_can_be_posted_just_before_its_timeout",
        [ok(hold("h1", timeout_s=60)), advance(59), ok(post("p1", "h1"))],
        {"A": bal(dpo=100), "B": bal(cpo=100)},
    ),
    fails("posting_an_unknown_hold_is_refused", post("p1", "nope"), "pending_transfer_not_found"),
    fails(
        "posting_a_single_phase_transfer_is_refused",
        post("p1", "t1"),
        "pending_transfer_not_pending",
        PAID,
        balances=PAID_BALANCES,
    ),
    fails(
        "posting_a_hold_with_another_debit_account_is_refused",
        post("p1", "h1", dr="C"),
        "pending_transfer_has_different_debit_account_id",
        HOLD,
        balances=HOLD_BALANCES,
    ),
    fails(
        "posting_a_hold_with_another_credit_account_is_refused",
        post("p1", "h1", cr="C"),
        "pending_transfer_has_different_credit_account_id",
        HOLD,
        balances=HOLD_BALANCES,
    ),
    fails(
        "posting_a_hold_in_another_currency_is_refused",
        post("p1", "h1", currency="USD"),
        "pending_transfer_has_different_currency",
        HOLD,
        balances=HOLD_BALANCES,
    ),
    fails(
        "voiding_part_of_a_hold_is_refused",
        void("v1", "h1", 50),
        "pending_transfer_has_different_amount",
        HOLD,
        balances=HOLD_BALANCES,
    ),
    fails(
        "posting_a_posted_hold_again_is_refused",
        post("p2", "h1"),
        "pending_transfer_already_posted",
        HOLD,
        ok(post("p1", "h1", 30)),
        balances={"A": bal(dpo=30), "B": bal(cpo=30)},
    ),
    fails(
        "voiding_a_posted_hold_is_refused",
        void("v1", "h1"),
        "pending_transfer_already_posted",
        HOLD,
        ok(post("p1", "h1")),
        balances={"A": bal(dpo=100), "B": bal(cpo=100)},
    ),
    fails(
        "posting_a_voided_hold_is_refused",
        post("p1", "h1"),
        "pending_transfer_already_voided",
        HOLD,
        ok(void("v1", "h1")),
    ),
    fails(
        "posting_an_expired_hold_is_refused",
        post("p1", "h1"),
        "pending_transfer_expired",
        ok(hold("h1", timeout_s=60)),
        advance(61),
    ),
    fails(
        "voiding_an_expired_hold_is_refused",
        void("v1", "h1"),
        "pending_transfer_expired",
        ok(hold("h1", timeout_s=60)),
        advance(61),
    ),
    fails(
        "posting_more_than_a_hold_is_refused",
        post("p1", "h1", 101),
        "exceeds_pending_transfer_amount",
        HOLD,
        balances=HOLD_BALANCES,
    ),
    # -- timeouts and overflows --
    Scenario(
        "a_hold_with_the_longest_timeout_is_accepted",
        [ok(hold("h1", timeout_s=limits.TRANSFER_TIMEOUT_S_MAX))],
        HOLD_BALANCES,
    ),
    fails(
        "a_hold_with_a_timeout_over_the_maximum_is_refused",
        hold("h1", timeout_s=limits.TRANSFER_TIMEOUT_S_MAX + 1),
        "overflows_timeout",
    ),
    fails(
        "a_hold_that_overflows_debits_pending_is_refused",
        hold("h2", "A", "C", 1),
        "overflows_debits_pending",
        ok(hold("h1", amount=MAX)),
        balances={"A": bal(dp=MAX), "B": bal(cp=MAX)},
    ),
    fails(
        "a_hold_that_overflows_credits_pending_is_refused",
        hold("h2", "C", "B", 1),
        "overflows_credits_pending",
        ok(hold("h1", amount=MAX)),
        balances={"A": bal(dp=MAX), "B": bal(cp=MAX)},
    ),
    fails(
        "a_transfer_that_overflows_debits_posted_is_refused",
        t("t2", "A", "C", 1),
        "overflows_debits_posted",
        ok(t("t1", amount=MAX)),
        balances={"A": bal(dpo=MAX), "B": bal(cpo=MAX)},
    ),
    fails(
        "a_transfer_that_overflows_credits_posted_is_refused",
        t("t2", "C", "B", 1),
        "overflows_credits_posted",
        ok(t("t1", amount=MAX)),
        balances={"A": bal(dpo=MAX), "B": bal(cpo=MAX)},
    ),
    fails(
        "a_transfer_that_overflows_pending_plus_posted_debits_is_refused",
        t("t2", "A", "C", 2),
        "overflows_debits",
        ok(hold("h1", amount=MAX - 1)),
        balances={"A": bal(dp=MAX - 1), "B": bal(cp=MAX - 1)},
    ),
    fails(
        "a_transfer_that_overflows_pending_plus_posted_credits_is_refused",
        t("t2", "C", "B", 2),
        "overflows_credits",
        ok(hold("h1", amount=MAX - 1)),
        balances={"A": bal(dp=MAX - 1), "B": bal(cp=MAX - 1)},
    ),
    Scenario(
        "a_transfer_that_reaches_the_maximum_exactly_is_accepted",
        [ok(hold("h1", amount=MAX - 1)), ok(t("t2", "A", "C", 1))],
        {"A": bal(dp=MAX - 1, dpo=1), "B": bal(cp=MAX - 1), "C": bal(cpo=1)},
    ),
    # -- balance limits and balancing transfers --
    fails(
        "spending_more_than_was_received_is_refused",
        t("t1", "L", "B", 71),
        "exceeds_credits",
        FUNDED_L,
        balances=FUNDED_L_BALANCES,
    ),
    fails(
        "holding_more_than_was_received_is_refused",
        hold("h1", "L", "B", 71),
        "exceeds_credits",
        FUNDED_L,
        balances=FUNDED_L_BALANCES,
    ),
    fails("receiving_more_than_was_paid_out_is_refused", t("t1", "A", "D", 1), "exceeds_debits"),
    Scenario(
        "spending_exactly_what_was_received_is_accepted",
        [FUNDED_L, ok(t("t1", "L", "B", 70))],
        {"A": bal(dpo=70), "L": bal(dpo=70, cpo=70), "B": bal(cpo=70)},
    ),
    Scenario(
        "a_balancing_debit_is_clamped_to_what_the_debit_account_holds",
        [FUNDED_L, ok(t("t1", "L", "B", 100, flags=F.BALANCING_DEBIT))],
        {"A": bal(dpo=70), "L": bal(dpo=70, cpo=70), "B": bal(cpo=70)},
        {"t1": (TransferStatus.POSTED, 70)},
    ),
    Scenario(
        "a_balancing_debit_with_enough_room_is_not_clamped",
        [FUNDED_L, ok(t("t1", "L", "B", 30, flags=F.BALANCING_DEBIT))],
        {"A": bal(dpo=70), "L": bal(dpo=30, cpo=70), "B": bal(cpo=30)},
        {"t1": (TransferStatus.POSTED, 30)},
    ),
    Scenario(
        "a_balancing_debit_leaves_room_for_holds",
        [
            FUNDED_L,
            ok(hold("h1", "L", "B", 50)),
            ok(t("t1", "L", "C", 100, flags=F.BALANCING_DEBIT)),
        ],
        {"A": bal(dpo=70), "L": bal(dp=50, dpo=20, cpo=70), "B": bal(cp=50), "C": bal(cpo=20)},
        {"t1": (TransferStatus.POSTED, 20)},
    ),
    Scenario(
        "a_pending_balancing_debit_is_clamped",
        [FUNDED_L, ok(hold("h1", "L", "B", 100, flags=F.BALANCING_DEBIT))],
        {"A": bal(dpo=70), "L": bal(dp=70, cpo=70), "B": bal(cp=70)},
        {"h1": (TransferStatus.PENDING, 70)},
    ),
    fails(
        "a_balancing_debit_from_an_empty_account_is_refused",
        t("t1", "L", "B", 100, flags=F.BALANCING_DEBIT),
        "exceeds_credits",
    ),
    Scenario(
        "a_balancing_credit_is_clamped_to_what_the_credit_account_paid_out",
        [ok(t("out", "D", "A", 50)), ok(t("t1", "A", "D", 80, flags=F.BALANCING_CREDIT))],
        {"A": bal(dpo=50, cpo=50), "D": bal(dpo=50, cpo=50)},
        {"t1": (TransferStatus.POSTED, 50)},
    ),
    fails(
        "a_balancing_credit_to_an_account_with_no_room_is_refused",
        t("t1", "A", "D", 80, flags=F.BALANCING_CREDIT),
        "exceeds_debits",
    ),
    Scenario(
        "a_clamped_balancing_transfer_replayed_as_asked_is_exists",
        [
            FUNDED_L,
            ok(t("t1", "L", "B", 100, flags=F.BALANCING_DEBIT)),
            Step([t("t1", "L", "B", 100, flags=F.BALANCING_DEBIT)], ["exists"]),
        ],
        {"A": bal(dpo=70), "L": bal(dpo=70, cpo=70), "B": bal(cpo=70)},
    ),
    fails(
        "a_clamped_balancing_transfer_replayed_below_its_amount_is_refused",
        t("t1", "L", "B", 60, flags=F.BALANCING_DEBIT),
        "exists_with_different_amount",
        FUNDED_L,
        ok(t("t1", "L", "B", 100, flags=F.BALANCING_DEBIT)),
        balances={"A": bal(dpo=70), "L": bal(dpo=70, cpo=70), "B": bal(cpo=70)},
    ),
]


def _scenario_params() -> list[object]:
    return [pytest.param(s, id=s.name) for s in SCENARIOS]


# -- running a scenario ------------------------------------------------------------------


@pytest.fixture
def accounts(ledger: Ledger) -> None:
    for request in ACCOUNTS.values():
        assert ledger.create_account(request)[1]


def stored_balances(engine: Engine) -> dict[str, Balances]:
    """Balances as stored, read without the lazy expiry that `Ledger.get_account` does."""
    with engine.connect() as conn:
        found = {i: store.get_account(conn, i) for i in ACCOUNTS}
    return {i: a.balances() for i, a in found.items() if a is not None}


def entry_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(store.entries)).scalar_one())


def run_step(ledger: Ledger, clock: ManualClock, engine: Engine, step: Step) -> None:
    if step.advance_s:
        clock.advance(step.advance_s)
    for account_id, status in step.statuses.items():
        assert ledger.set_account_status(account_id, status).status == status
    if not step.batch:
        return
    with engine.connect() as conn:
        before = {r.id: store.get_transfer(conn, r.id) for r in step.batch if r.id}
    results = ledger.create_transfers(step.batch)
    assert [r.result for r in results] == list(step.results)
    assert [r.id for r in results] == [r.id for r in step.batch]
    with engine.connect() as conn:
        after = {r.id: store.get_transfer(conn, r.id) for r in step.batch if r.id}
    created = {
        r.id for r, result in zip(step.batch, step.results, strict=True) if result == "created"
    }
    for request, result in zip(step.batch, step.results, strict=True):
        if result != "created" and request.id and request.id not in created:
            # A transfer that did not get created leaves what was stored under its id alone.
            assert after[request.id] == before[request.id], (request.id, result)


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize("scenario", _scenario_params())
def test_scenario_returns_its_results_and_leaves_the_expected_balances(
    scenario: Scenario, ledger: Ledger, clock: ManualClock, engine: Engine
) -> None:
    for step in scenario.steps[:-1]:
        run_step(ledger, clock, engine, step)
    last = scenario.steps[-1]
    balances_before, entries_before = stored_balances(engine), entry_count(engine)
    run_step(ledger, clock, engine, last)
    if "created" not in last.results and not any(s.advance_s for s in scenario.steps):
        assert stored_balances(engine) == balances_before
        assert entry_count(engine) == entries_before
    expected = {i: scenario.balances.get(i, bal()) for i in ACCOUNTS}
    actual = {i: ledger.get_account(i).balances() for i in ACCOUNTS}  # type: ignore[union-attr]
    assert actual == expected
    for transfer_id, (status, amount) in scenario.transfers.items():
        transfer = ledger.get_transfer(transfer_id)
        assert transfer is not None
        assert (transfer.status, transfer.amount) == (status, amount)
    report = ledger.check()
    assert report.problems == []


def test_every_result_code_has_a_scenario() -> None:
    produced = {r for s in SCENARIOS for step in s.steps for r in step.results}
    assert [code for code in RESULTS if code not in produced] == []
    assert produced <= set(RESULTS)


def test_scenario_names_are_unique() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))


# -- precedence: a transfer that breaks two rules gets the earlier one in RESULTS ---------


@dataclass(frozen=True)
class Precedence:
    earlier: str
    later: str
    broken: TransferRequest  # breaks both rules
    fixed: TransferRequest  # breaks only the later rule
    setup: Sequence[Step] = ()


PRECEDENCE: list[Precedence] = [
    Precedence(
        "id_must_not_be_empty", "amount_must_be_positive", t("", amount=0), t("t1", amount=0)
    ),
    Precedence(
        "id_too_long",
        "flags_are_mutually_exclusive",
        t("x" * 65, flags=F.PENDING | F.VOID_PENDING, pending_id="h1"),
        t("t1", flags=F.PENDING | F.VOID_PENDING, pending_id="h1"),
    ),
    Precedence(
        "flags_are_mutually_exclusive",
        "pending_id_must_be_set",
        t("p1", None, None, None, flags=F.POST_PENDING | F.VOID_PENDING, currency=None),
        t("p1", None, None, None, flags=F.POST_PENDING, currency=None),
    ),
    Precedence(
        "pending_id_must_not_be_set",
        "timeout_reserved_for_pending_transfer",
        t("t1", pending_id="h1", timeout_s=5),
        t("t1", timeout_s=5),
    ),
    Precedence(
        "timeout_reserved_for_pending_transfer",
        "amount_must_be_positive",
        t("t1", amount=0, timeout_s=5),
        t("t1", amount=0),
    ),
    Precedence(
        "amount_must_be_positive",
        "unknown_currency",
        t("t1", amount=-1, currency="ZZZ"),
        t("t1", currency="ZZZ"),
    ),
    Precedence(
        "amount_must_not_exceed_max",
        "code_must_not_exceed_max",
        t("t1", amount=MAX + 1, code=-1),
        t("t1", code=-1),
    ),
    Precedence(
        "code_must_not_exceed_max",
        "unknown_currency",
        t("t1", code=-1, currency="ZZZ"),
        t("t1", currency="ZZZ"),
    ),
    Precedence(
        "unknown_currency",
        "debit_account_not_found",
        t("t1", "nope", currency="ZZZ"),
        t("t1", "nope"),
    ),
    Precedence(
        "amount_must_be_positive",
        "exists_with_different_amount",
        t("t1", amount=0),
        t("t1", amount=5),
        [ok(t("t1"))],
    ),
    Precedence(
        "exists_with_different_flags",
        "exists_with_different_amount",
        t("t1", amount=5, flags=F.PENDING),
        t("t1", amount=5),
        [ok(t("t1"))],
    ),
    Precedence(
        "exists_with_different_debit_account_id",
        "exists_with_different_metadata",
        t("t1", "C", metadata={"k": 1}),
        t("t1", metadata={"k": 1}),
        [ok(t("t1"))],
    ),
    Precedence(
        "exists_with_different_amount",
        "exists_with_different_currency",
        t("t1", amount=5, currency="USD"),
        t("t1", currency="USD"),
        [ok(t("t1"))],
    ),
    Precedence(
        "exists_with_different_credit_account_id",
        "exists_with_different_code",
        t("t1", "A", "C", code=3),
        t("t1", code=3),
        [ok(t("t1"))],
    ),
    Precedence(
        "id_already_failed",
        "accounts_must_be_different",
        t("t1", "A", "A"),
        t("t2", "A", "A"),
        [Step([t("t1", "L", "B")], ["exceeds_credits"])],
    ),
    Precedence(
        "accounts_must_be_different",
        "debit_account_not_found",
        t("t1", "nope", "nope"),
        t("t1", "nope", "B"),
    ),
    Precedence(
        "pending_transfer_not_pending",
        "pending_transfer_has_different_debit_account_id",
        post("p1", "t1", dr="C"),
        post("p2", "h1", dr="C"),
        [ok(t("t1")), HOLD],
    ),
    Precedence(
        "pending_transfer_has_different_debit_account_id",
        "pending_transfer_already_posted",
        post("p2", "h1", dr="C"),
        post("p3", "h1"),
        [HOLD, ok(post("p1", "h1"))],
    ),
    Precedence(
        "pending_transfer_has_different_amount",
        "pending_transfer_already_voided",
        void("v2", "h1", 5),
        void("v3", "h1"),
        [HOLD, ok(void("v1", "h1"))],
    ),
    Precedence(
        "pending_transfer_expired",
        "exceeds_pending_transfer_amount",
        post("p1", "h1", 101),
        post("p2", "h2", 101),
        [ok(hold("h1", timeout_s=60), hold("h2", "A", "C")), advance(61)],
    ),
    Precedence(
        "debit_account_not_found",
        "credit_account_not_found",
        t("t1", "nope", "nope2"),
        t("t2", "A", "nope2"),
    ),
    Precedence(
        "credit_account_not_found", "currency_mismatch", t("t1", "U", "nope"), t("t2", "U", "B")
    ),
    Precedence(
        "currency_mismatch",
        "account_frozen",
        t("t1", "A", "U"),
        t("t2", "A", "B"),
        [statuses(A=AccountStatus.FROZEN)],
    ),
    Precedence(
        "account_frozen",
        "account_closed",
        t("t1", "A", "B"),
        t("t2", "C", "B"),
        [statuses(A=AccountStatus.FROZEN, B=AccountStatus.CLOSED)],
    ),
    Precedence(
        "account_closed",
        "exceeds_credits",
        t("t1", "L", "B"),
        t("t2", "L", "C"),
        [statuses(B=AccountStatus.CLOSED)],
    ),
    Precedence(
        "overflows_timeout",
        "exceeds_credits",
        hold("h1", "L", "B", timeout_s=limits.TRANSFER_TIMEOUT_S_MAX + 1),
        hold("h2", "L", "B", timeout_s=60),
    ),
    Precedence(
        "overflows_debits_pending",
        "overflows_credits_pending",
        hold("h2", "A", "B", 1),
        hold("h3", "C", "B", 1),
        [ok(hold("h1", amount=MAX))],
    ),
    Precedence(
        "overflows_debits_posted",
        "exceeds_credits",
        t("t2", "L", "B", MAX),
        t("t3", "L", "B", 1),
        [ok(t("fund", "A", "L", 10)), ok(t("t1", "L", "B", 10))],
    ),
    Precedence(
        "overflows_credits_posted",
        "overflows_debits",
        t("t2", "C", "B", 2),
        t("t3", "C", "A", 2),
        [ok(t("t1", "A", "B", MAX - 1)), ok(hold("h1", "C", "A", MAX - 1))],
    ),
    Precedence(
        "overflows_debits",
        "overflows_credits",
        t("t2", "A", "B", 2),
        t("t3", "C", "B", 2),
        [ok(hold("h1", amount=MAX - 1))],
    ),
    Precedence(
        "overflows_credits",
        "exceeds_credits",
        t("t2", "L", "B", 2),
        t("t3", "L", "C", 2),
        [ok(hold("h1", amount=MAX - 1))],
    ),
    Precedence("exceeds_credits", "exceeds_debits", t("t1", "L", "D", 1), t("t2", "A", "D", 1)),
]


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"{c.earlier}-over-{c.later}") for c in PRECEDENCE]
)
def test_a_transfer_breaking_two_rules_gets_the_one_earlier_in_results(
    case: Precedence, ledger: Ledger, clock: ManualClock, engine: Engine
) -> None:
    assert RESULTS.index(case.earlier) < RESULTS.index(case.later)
    for step in case.setup:
        run_step(ledger, clock, engine, step)
    ledger.expire_due_holds()
    before = stored_balances(engine)
    run_step(ledger, clock, engine, Step([case.broken], [case.earlier]))
    run_step(ledger, clock, engine, Step([case.fixed], [case.later]))
    assert stored_balances(engine) == before


# -- expiry outside a batch: lazily on reads, and by the sweep ---------------------------


def stored_transfer_status(engine: Engine, transfer_id: str) -> TransferStatus | None:
    with engine.connect() as conn:
        transfer = store.get_transfer(conn, transfer_id)
    return None if transfer is None else transfer.status


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize("read", ["A", "B"])
def test_reading_either_account_of_a_due_hold_expires_it(
    ledger: Ledger, clock: ManualClock, engine: Engine, read: str
) -> None:
    run_step(ledger, clock, engine, ok(hold("h1", timeout_s=60)))
    clock.advance(59)
    assert ledger.get_account(read).balances() == HOLD_BALANCES[read]  # type: ignore[union-attr]
    assert stored_transfer_status(engine, "h1") == TransferStatus.PENDING
    clock.advance(2)
    assert ledger.get_account(read).balances() == bal()  # type: ignore[union-attr]
    # The read released both sides of the hold, not only the account it read.
    assert stored_balances(engine) == {i: bal() for i in ACCOUNTS}
    assert stored_transfer_status(engine, "h1") == TransferStatus.EXPIRED_PENDING
    assert ledger.check().problems == []


@pytest.mark.usefixtures("accounts")
def test_reading_a_due_hold_expires_it(ledger: Ledger, clock: ManualClock, engine: Engine) -> None:
    run_step(ledger, clock, engine, ok(hold("h1", timeout_s=60)))
    clock.advance(59)
    assert ledger.get_transfer("h1").status == TransferStatus.PENDING  # type: ignore[union-attr]
    clock.advance(2)
    expired = ledger.get_transfer("h1")
    assert expired is not None
    assert (expired.status, expired.amount) == (TransferStatus.EXPIRED_PENDING, 100)
    assert stored_balances(engine) == {i: bal() for i in ACCOUNTS}
    entries = ledger.entries("A", newest_first=False).entries
    assert [(e.transfer_id, e.event, e.debits_pending) for e in entries] == [
        ("h1", "pending", 100),
        ("h1", "expired", 0),
    ]
    assert entries[-1].created_at == clock.now()


@pytest.mark.usefixtures("accounts")
def test_the_expiry_sweep_expires_due_holds_and_leaves_the_others(
    ledger: Ledger, clock: ManualClock, engine: Engine
) -> None:
    run_step(
        ledger,
        clock,
        engine,
        ok(
            hold("h1", timeout_s=60),
            hold("h2", "A", "C", 5, timeout_s=120),
            hold("h3", "C", "B", 7),
        ),
    )
    assert ledger.expire_due_holds() == 0
    clock.advance(61)
    assert ledger.expire_due_holds() == 2  # the accounts of h1: A and B
    assert ledger.expire_due_holds() == 0
    assert [stored_transfer_status(engine, i) for i in ("h1", "h2", "h3")] == [
        TransferStatus.EXPIRED_PENDING,
        TransferStatus.PENDING,
        TransferStatus.PENDING,
    ]
    expected = {"A": bal(dp=5), "B": bal(cp=7), "C": bal(dp=7, cp=5)}
    assert stored_balances(engine) == {i: expected.get(i, bal()) for i in ACCOUNTS}
    clock.advance(60)
    assert ledger.expire_due_holds() == 2  # the accounts of h2: A and C
    assert stored_transfer_status(engine, "h2") == TransferStatus.EXPIRED_PENDING
    clock.advance(limits.TRANSFER_TIMEOUT_S_MAX)
    assert ledger.expire_due_holds() == 0  # h3 has no timeout: it never expires
    expected = {"B": bal(cp=7), "C": bal(dp=7)}
    assert stored_balances(engine) == {i: expected.get(i, bal()) for i in ACCOUNTS}
    assert ledger.check().problems == []


@pytest.mark.usefixtures("accounts")
def test_a_hold_expired_by_the_sweep_cannot_be_posted_or_voided(
    ledger: Ledger, clock: ManualClock, engine: Engine
) -> None:
    run_step(ledger, clock, engine, ok(hold("h1", timeout_s=60)))
    clock.advance(61)
    assert ledger.expire_due_holds() == 2
    run_step(
        ledger,
        clock,
        engine,
        Step(
            [post("p1", "h1"), void("v1", "h1")],
            ["pending_transfer_expired", "pending_transfer_expired"],
        ),
    )
    assert stored_balances(engine) == {i: bal() for i in ACCOUNTS}
