"""The pure consistency rules called directly: each disagreement is pinned whole (code,
subject, transfer and the detail an operator reads), each boundary of the in-flight grace
is tried at exactly the limit and one step before it, and each branch of the order, pay-in
and split-leg rules is reached on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.consistency import model
from paycore.consistency.model import Disagreement, HoldFacts, PayinFacts

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=model.IN_FLIGHT_GRACE_S)
JUST_NOW = NOW - GRACE + timedelta(microseconds=1)  # still inside the grace
AT_GRACE = NOW - GRACE  # the grace is over exactly here
LONG_AGO = NOW - timedelta(days=1)


def _hold(
    kind: str = "payout",
    status: str = "processing",
    hold_status: str = model.LIVE,
    legs: dict[str, datetime] | None = None,
    amount: int = 1_000,
    leg_amounts: dict[str, int] | None = None,
) -> HoldFacts:
    return HoldFacts(
        order_id="o1", kind=kind, status=status, updated_at=LONG_AGO,
        hold_status=hold_status, legs=legs or {}, amount=amount, leg_amounts=leg_amounts,
    )  # fmt: skip


def test_a_disagreement_reads_as_its_code_subject_transfer_and_detail() -> None:
    found = Disagreement("payout_failed_hold_live", "o1", "tr_o1_hold", "order is failed")

    assert str(found) == "payout_failed_hold_live: o1 (tr_o1_hold) order is failed"


def test_an_orders_own_transfers_are_named_after_the_order_and_the_leg() -> None:
    assert model.hold_transfer_id("po_1") == "tr_po_1_hold"
    assert model.hold_transfer_id("po_1", "out") == "tr_po_1_out"


# -- holds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "hold_status", "code"),
    [
        ("payout", "created", model.POSTED_HOLD, "payout_created_without_live_hold"),
        ("payout", "processing", model.MISSING, "payout_processing_without_live_hold"),
        ("refund", "processing", model.EXPIRED_HOLD, "refund_processing_without_live_hold"),
        ("payout", "succeeded", model.LIVE, "payout_succeeded_hold_not_posted"),
        ("payout", "returned", model.VOIDED_HOLD, "payout_returned_hold_not_posted"),
        ("refund", "succeeded", model.MISSING, "refund_succeeded_hold_not_posted"),
        ("payout", "failed", model.POSTED_HOLD, "payout_failed_hold_posted"),
        ("payout", "failed", model.LIVE, "payout_failed_hold_live"),
        ("refund", "failed", model.LIVE, "refund_failed_hold_live"),
    ],
)
def test_a_hold_in_a_state_its_order_does_not_allow_is_named_by_both_states(
    kind: str, status: str, hold_status: str, code: str
) -> None:
    found = model.hold_disagreement(_hold(kind, status, hold_status), now=NOW)

    assert found == Disagreement(
        code, "o1", "tr_o1_hold", f"order is {status}, its hold is {hold_status}"
    )


def test_an_order_kind_without_hold_rules_is_judged_only_by_its_amounts() -> None:
    facts = _hold("payin", "succeeded", model.MISSING, leg_amounts={"hold": 1_000})

    assert model.hold_disagreement(facts, now=NOW) is None


@pytest.mark.parametrize(
    ("status", "legs", "missing", "code"),
    [
        ("succeeded", ("out",), "post", "payout_succeeded_hold_not_posted"),
        ("succeeded", ("post",), "out", "payout_succeeded_hold_not_posted"),
        ("returned", ("post", "out"), "ret", "payout_returned_not_credited_back"),
        ("returned", ("out", "ret"), "post", "payout_returned_hold_not_posted"),
    ],
)
def test_a_settled_order_missing_one_of_its_own_transfers_names_that_transfer(
    status: str, legs: tuple[str, ...], missing: str, code: str
) -> None:
    facts = _hold("payout", status, model.POSTED_HOLD, legs=dict.fromkeys(legs, LONG_AGO))

    assert model.hold_disagreement(facts, now=NOW) == Disagreement(
        code, "o1", f"tr_o1_{missing}", f"order is {status}, its transfer {missing} is missing"
    )


def test_a_settled_order_with_all_its_transfers_for_its_amount_agrees() -> None:
    legs = dict.fromkeys(("post", "out", "ret"), LONG_AGO)
    amounts = dict.fromkeys(("hold", "post", "out", "ret"), 1_000)
    facts = _hold("payout", "returned", model.POSTED_HOLD, legs=legs, leg_amounts=amounts)

    assert model.hold_disagreement(facts, now=NOW) is None


@pytest.mark.parametrize(
    ("leg", "word"), [("hold", "hold"), ("post", "hold"), ("out", "out"), ("ret", "ret")]
)
def test_an_own_transfer_for_another_amount_names_the_first_such_leg(leg: str, word: str) -> None:
    # The legs before it agree: the rule looks on past them instead of stopping.
    amounts = {"agrees": 1_000, leg: 999, "later": 5}
    facts = _hold("refund", "processing", model.LIVE, leg_amounts=amounts)

    assert model.hold_disagreement(facts, now=NOW) == Disagreement(
        f"refund_{word}_amount_differs", "o1", f"tr_o1_{leg}",
        f"order is for 1000, its transfer {leg} moved 999",
    )  # fmt: skip


@pytest.mark.parametrize("status", ["created", "processing"])
@pytest.mark.parametrize(
    ("hold_status", "own"), [(model.POSTED_HOLD, "post"), (model.VOIDED_HOLD, "void")]
)
def test_an_open_order_whose_hold_its_flow_just_settled_is_in_flight_until_the_grace_ends(
    status: str, hold_status: str, own: str
) -> None:
    def judged(at: datetime) -> Disagreement | None:
        return model.hold_disagreement(_hold("payout", status, hold_status, {own: at}), now=NOW)

    assert judged(JUST_NOW) is None
    late = judged(AT_GRACE)
    assert late is not None and late.code == f"payout_{status}_without_live_hold"


@pytest.mark.parametrize(
    ("hold_status", "legs"),
    [
        (model.POSTED_HOLD, {"void": NOW}),  # someone else's leg: not the flow's settle
        (model.VOIDED_HOLD, {"post": NOW}),
        (model.EXPIRED_HOLD, {"post": NOW, "void": NOW}),  # the ledger's, never in flight
    ],
)
def test_only_the_flows_own_settle_of_that_hold_counts_as_in_flight(
    hold_status: str, legs: dict[str, datetime]
) -> None:
    found = model.hold_disagreement(_hold("payout", "processing", hold_status, legs), now=NOW)

    assert found is not None and found.code == "payout_processing_without_live_hold"


def test_a_failed_order_is_never_in_flight_even_just_after_a_post() -> None:
    facts = _hold("payout", "failed", model.POSTED_HOLD, {"post": NOW})

    found = model.hold_disagreement(facts, now=NOW)

    assert found is not None and found.code == "payout_failed_hold_posted"


@given(
    key=st.sampled_from(sorted(model.HOLD_ALLOWED)),
    amount=st.integers(min_value=1, max_value=10**12),
)
def test_an_order_whose_hold_and_legs_are_all_allowed_never_disagrees(
    key: tuple[str, str], amount: int
) -> None:
    kind, status = key
    legs = dict.fromkeys(model.LEGS_REQUIRED.get(key, ()), LONG_AGO)
    for hold_status in model.HOLD_ALLOWED[key]:
        amounts = dict.fromkeys(["hold", *legs], amount)
        facts = _hold(kind, status, hold_status, legs, amount=amount, leg_amounts=amounts)
        assert model.hold_disagreement(facts, now=NOW) is None


# -- pay-ins --------------------------------------------------------------------------------


def _payin(
    status: str = "succeeded",
    net: int = 990,
    settled_at: datetime | None = LONG_AGO,
    fee: int = 10,
    captured: int = 990,
    fee_taken: int = 10,
) -> PayinFacts:
    return PayinFacts("pi1", status, net, settled_at, fee, captured, fee_taken)


def test_a_succeeded_pay_in_settled_for_its_net_and_fee_agrees() -> None:
    assert model.payin_disagreement(_payin(), now=NOW) is None


@pytest.mark.parametrize(("net", "leg"), [(990, "cap"), (0, "fee")])
def test_a_succeeded_pay_in_never_settled_names_its_capture_or_else_its_fee_leg(
    net: int, leg: str
) -> None:
    facts = _payin(net=net, settled_at=None)

    assert model.payin_disagreement(facts, now=NOW) == Disagreement(
        "payin_succeeded_not_settled", "pi1", f"tr_pi1_{leg}",
        "paid, but nothing reached the merchant's wallet",
    )  # fmt: skip


@pytest.mark.parametrize(("captured", "fee_taken"), [(989, 10), (990, 11), (0, 0)])
def test_a_succeeded_pay_in_settled_for_other_amounts_names_both_sides(
    captured: int, fee_taken: int
) -> None:
    facts = _payin(captured=captured, fee_taken=fee_taken)

    assert model.payin_disagreement(facts, now=NOW) == Disagreement(
        "payin_capture_amount_differs", "pi1", "tr_pi1_cap",
        f"order is 990 net + 10 fee, the ledger moved {captured} + {fee_taken}",
    )  # fmt: skip


@pytest.mark.parametrize("status", ["created", "processing", "failed", "closed"])
def test_an_unpaid_pay_in_that_was_never_settled_agrees(status: str) -> None:
    assert model.payin_disagreement(_payin(status, settled_at=None), now=NOW) is None


@pytest.mark.parametrize("status", ["created", "processing"])
def test_an_open_pay_in_settled_moments_ago_is_in_flight_until_the_grace_ends(
    status: str,
) -> None:
    assert model.payin_disagreement(_payin(status, settled_at=JUST_NOW), now=NOW) is None
    assert model.payin_disagreement(_payin(status, settled_at=AT_GRACE), now=NOW) == (
        Disagreement(
            f"payin_{status}_settled", "pi1", "tr_pi1_cap",
            f"order is {status}, yet the merchant's wallet was credited",
        )
    )  # fmt: skip


@pytest.mark.parametrize("status", ["failed", "closed"])
def test_a_finished_unpaid_pay_in_that_was_settled_is_named_at_once(status: str) -> None:
    found = model.payin_disagreement(_payin(status, net=0, settled_at=NOW), now=NOW)

    assert found is not None
    assert (found.code, found.transfer_id) == (f"payin_{status}_settled", "tr_pi1_fee")


# -- split legs -----------------------------------------------------------------------------


def _leg(state: str, **amounts: int) -> dict[str, Any]:
    return {"key": "k1", "state": state, "transfer_id": "tr_sp1_k1", **amounts}


def test_a_leg_in_a_state_without_rules_is_not_judged() -> None:
    leg = _leg("cancelled")

    assert model.split_leg_disagreement(split_id="sp1", leg=leg, transfer_status="x") is None


@pytest.mark.parametrize(
    ("state", "transfer_status"),
    [
        ("pending", model.POSTED),
        ("posted", model.LIVE),
        ("voided", model.EXPIRED_HOLD),
        ("expired", model.VOIDED_HOLD),
        ("planned", model.POSTED),
    ],
)
def test_a_leg_whose_transfer_is_in_another_state_is_named_by_the_legs_state(
    state: str, transfer_status: str
) -> None:
    found = model.split_leg_disagreement(
        split_id="sp1", leg=_leg(state), transfer_status=transfer_status
    )

    assert found == Disagreement(
        model.LEG_CODES[state], "sp1", "tr_sp1_k1",
        f"leg k1 is {state}, its transfer is {transfer_status}",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("state", "status", "field"),
    [("pending", model.LIVE, "frozen"), ("posted", model.POSTED, "received")],
)
def test_a_legs_transfer_moves_what_the_leg_froze_or_received(
    state: str, status: str, field: str
) -> None:
    leg = _leg(state, **{field: 500})

    def judged(amount: int | None) -> Disagreement | None:
        return model.split_leg_disagreement(
            split_id="sp1", leg=leg, transfer_status=status, transfer_amount=amount
        )

    assert judged(500) is None
    assert judged(None) is None  # the store did not read the amount
    assert judged(499) == Disagreement(
        "split_leg_amount_differs", "sp1", "tr_sp1_k1",
        f"leg k1 has 500 {field}, its transfer moved 499",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("state", "status"), [("pending", model.EXPIRED_HOLD), ("posted", model.POSTED_HOLD)]
)
def test_a_legs_transfer_whose_amount_may_differ_is_not_compared(state: str, status: str) -> None:
    found = model.split_leg_disagreement(
        split_id="sp1", leg=_leg(state), transfer_status=status, transfer_amount=1
    )

    assert found is None
