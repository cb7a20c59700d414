"""The pure custody rules called directly: every id a receipt's or a deal's move may have,
each receipt disagreement pinned whole (its detail is what an operator reads), the grace
for an unexpected move at exactly its limit, and each way a closed deal can disagree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from paycore.consistency import model
from paycore.consistency.model import Disagreement

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=model.IN_FLIGHT_GRACE_S)
LONG_AGO = NOW - timedelta(days=1)


def _receipt(status: str, step: str | None = None, **changes: Any) -> dict[str, Any]:
    receipt = {
        "id": "r1", "status": status, "cutoff_step": step, "move_attempt": 1,
        "amount": 1_000, "refund_id": "rf1", "refund_status": "succeeded",
    }  # fmt: skip
    return {**receipt, **changes}


def _moved(*ids: str, at: datetime = LONG_AGO, amount: int = 1_000) -> dict[str, model.Seen]:
    return {i: ("posted", at, amount) for i in ids}


def test_a_receipts_move_ids_run_from_attempt_zero_to_its_current_attempt() -> None:
    assert model.receipt_ids("r1", "back", 2) == [
        "tr_cus_r1_back0",
        "tr_cus_r1_back1",
        "tr_cus_r1_back2",
    ]
    assert model.receipt_ids("r1", "in", 0) == ["tr_cus_r1_in0"]


def test_a_landing_receipt_with_no_moves_agrees() -> None:
    assert model.receipt_disagreements(_receipt("landing"), {}, now=NOW) == []


@pytest.mark.parametrize(
    ("status", "step", "kind", "shown"),
    [
        ("matched", None, "in", "no cut-off"),
        ("refunding", "moved_back", "back", "moved_back"),
        ("refund_failed", "reported", "ret", "reported"),
    ],
)
def test_a_move_the_receipts_state_implies_but_the_ledger_lacks_names_its_last_id(
    status: str, step: str | None, kind: str, shown: str
) -> None:
    present = {"in", "back"} - {kind} if step else set()
    found = _moved(*(f"tr_cus_r1_{k}1" for k in present))

    disagreements = model.receipt_disagreements(_receipt(status, step), found, now=NOW)

    assert disagreements == [
        Disagreement(
            model.RECEIPT_MISSING[kind], "r1", f"tr_cus_r1_{kind}1",
            f"receipt is {status} ({shown}), yet its move {kind} is missing",
        )
    ]  # fmt: skip


def test_a_missing_move_is_named_by_the_id_of_the_receipts_latest_attempt() -> None:
    receipt = _receipt("matched", move_attempt=2)

    [missing] = model.receipt_disagreements(receipt, {}, now=NOW)

    assert (missing.code, missing.transfer_id) == (
        "custody_receipt_in_custody_without_transfer",
        "tr_cus_r1_in2",
    )


@pytest.mark.parametrize(
    ("status", "step", "kind", "shown"),
    [
        ("landing", None, "in", "no cut-off"),
        ("matched", "due", "back", "due"),
        ("matched", None, "ret", "no cut-off"),
    ],
)
def test_a_move_the_receipts_state_does_not_imply_is_named_once_the_grace_is_over(
    status: str, step: str | None, kind: str, shown: str
) -> None:
    implied = set() if status == "landing" else {"tr_cus_r1_in1"}
    receipt = _receipt(status, step)
    late = {**_moved(*implied), **_moved(f"tr_cus_r1_{kind}1", at=NOW - GRACE)}
    recent = {**late, **_moved(f"tr_cus_r1_{kind}1", at=NOW - GRACE + timedelta(seconds=1))}

    assert model.receipt_disagreements(receipt, recent, now=NOW) == []
    assert model.receipt_disagreements(receipt, late, now=NOW) == [
        Disagreement(
            model.RECEIPT_UNEXPECTED[kind], "r1", f"tr_cus_r1_{kind}1",
            f"receipt is {status} ({shown}), yet it was moved {kind}",
        )
    ]  # fmt: skip


def test_the_grace_of_a_move_tried_twice_counts_from_its_last_try() -> None:
    found = {**_moved("tr_cus_r1_in0"), **_moved("tr_cus_r1_in1", at=NOW)}

    disagreements = model.receipt_disagreements(_receipt("landing"), found, now=NOW)

    assert [d.code for d in disagreements] == ["custody_receipt_moved_twice"]


def test_a_move_for_another_amount_than_the_receipt_names_its_last_id() -> None:
    found = _moved("tr_cus_r1_in1", amount=999)

    disagreements = model.receipt_disagreements(_receipt("matched"), found, now=NOW)

    assert disagreements == [
        Disagreement(
            "custody_receipt_amount_differs", "r1", "tr_cus_r1_in1",
            "receipt is for 1000, its move in moved 999",
        )
    ]  # fmt: skip


def test_the_amount_of_a_receipts_move_is_read_from_its_last_try() -> None:
    found = {**_moved("tr_cus_r1_in0", amount=999), **_moved("tr_cus_r1_in1")}

    disagreements = model.receipt_disagreements(_receipt("matched"), found, now=NOW)

    assert [d.code for d in disagreements] == ["custody_receipt_moved_twice"]


def test_a_receipt_whose_money_was_moved_twice_lists_every_id_that_landed() -> None:
    found = _moved("tr_cus_r1_in0", "tr_cus_r1_in1")

    disagreements = model.receipt_disagreements(_receipt("matched"), found, now=NOW)

    assert disagreements == [
        Disagreement(
            "custody_receipt_moved_twice", "r1", "tr_cus_r1_in1",
            "receipt's money was moved in 2 times: tr_cus_r1_in0, tr_cus_r1_in1",
        )
    ]  # fmt: skip


def test_a_receipt_moved_three_times_names_the_last_of_them() -> None:
    found = _moved("tr_cus_r1_in0", "tr_cus_r1_in1", "tr_cus_r1_in2")

    [twice] = model.receipt_disagreements(_receipt("matched", move_attempt=2), found, now=NOW)

    assert (twice.code, twice.transfer_id) == ("custody_receipt_moved_twice", "tr_cus_r1_in2")
    assert twice.detail.startswith("receipt's money was moved in 3 times: tr_cus_r1_in0, ")


@pytest.mark.parametrize(
    ("refund_id", "refund_status", "transfer_id", "detail"),
    [
        ("rf1", "processing", "tr_rf1_hold", "its refund rf1 is processing"),
        ("rf1", None, "tr_rf1_hold", "its refund rf1 is missing"),
        (None, None, "tr_-_hold", "its refund None is missing"),
    ],
)
def test_a_refunded_receipt_whose_refund_did_not_succeed_names_that_refund(
    refund_id: str | None, refund_status: str | None, transfer_id: str, detail: str
) -> None:
    receipt = _receipt("refunded", "reported", refund_id=refund_id, refund_status=refund_status)
    found = _moved("tr_cus_r1_in1", "tr_cus_r1_back1")

    assert model.receipt_disagreements(receipt, found, now=NOW) == [
        Disagreement(
            "custody_receipt_refunded_order_not_succeeded", "r1", transfer_id,
            f"receipt is refunded, {detail}",
        )
    ]  # fmt: skip


def test_a_refunded_receipt_whose_refund_succeeded_agrees() -> None:
    found = _moved("tr_cus_r1_in1", "tr_cus_r1_back1")

    assert model.receipt_disagreements(_receipt("refunded", "reported"), found, now=NOW) == []


def test_a_receipt_not_refunded_is_not_asked_about_its_refund() -> None:
    receipt = _receipt("refunding", "refund_requested", refund_status=None)
    found = _moved("tr_cus_r1_in1", "tr_cus_r1_back1")

    assert model.receipt_disagreements(receipt, found, now=NOW) == []


# -- deals ----------------------------------------------------------------------------------


def _deal(**changes: Any) -> dict[str, Any]:
    deal = {
        "id": "d1", "status": "closed", "commission": 50, "rest_to": "seller",
        "deposit_amount": 1_000, "close_attempt": 2,
    }  # fmt: skip
    return {**deal, **changes}


@pytest.mark.parametrize(
    ("changes", "legs"),
    [
        ({}, {"com": 50, "rest": 950}),
        ({"rest_to": None}, {"com": 50, "rest": 950}),
        ({"rest_to": "buyer"}, {"com": 50}),
        ({"commission": None}, {"rest": 1_000}),
        ({"commission": 0, "rest_to": "buyer"}, {}),
        ({"commission": 1_000}, {"com": 1_000}),
    ],
)
def test_a_closed_deal_posts_its_commission_and_the_rest_to_the_seller_never_a_zero_leg(
    changes: dict[str, Any], legs: dict[str, int]
) -> None:
    assert model.deal_legs(_deal(**changes)) == legs


def test_a_deals_close_transfers_are_named_after_the_deal_its_attempt_and_the_leg() -> None:
    assert model.deal_transfer_id(_deal(), "com") == "tr_cus_d1_c2_com"


def _seen(com: int | None = 50, rest: int | None = 950) -> dict[str, model.Seen]:
    found = {"tr_cus_d1_c2_com": com, "tr_cus_d1_c2_rest": rest}
    return {i: ("posted", LONG_AGO, amount) for i, amount in found.items() if amount is not None}


def test_a_closed_deal_with_each_leg_posted_for_its_amount_agrees() -> None:
    assert model.deal_disagreement(_deal(), _seen()) is None


def test_a_deal_not_closed_is_not_judged() -> None:
    assert model.deal_disagreement(_deal(status="open"), {}) is None


@pytest.mark.parametrize(("found", "leg"), [(_seen(com=None), "com"), (_seen(rest=None), "rest")])
def test_a_closed_deal_missing_a_leg_names_it(found: dict[str, model.Seen], leg: str) -> None:
    assert model.deal_disagreement(_deal(), found) == Disagreement(
        "custody_deal_closed_without_transfer", "d1", f"tr_cus_d1_c2_{leg}",
        f"deal is closed, its {leg} transfer is missing",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("found", "leg", "amount", "moved"),
    [(_seen(com=49), "com", 50, 49), (_seen(rest=951), "rest", 950, 951)],
)
def test_a_closed_deal_leg_for_another_amount_names_both_amounts(
    found: dict[str, model.Seen], leg: str, amount: int, moved: int
) -> None:
    assert model.deal_disagreement(_deal(), found) == Disagreement(
        "custody_deal_amount_differs", "d1", f"tr_cus_d1_c2_{leg}",
        f"deal's {leg} is {amount}, its transfer moved {moved}",
    )  # fmt: skip
