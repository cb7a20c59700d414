"""The amount and custody rules themselves: the SQL filter keeps every order whose own
transfers move another amount than the order, and the receipt rule objects exactly when a
move the receipt's state implies is missing, unexpected (after the grace), doubled or for
another amount."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, insert

from paycore.clock import ManualClock
from paycore.consistency import model
from paycore.consistency.service import FlowCheck
from paycore.ledger.store import transfers
from paycore.payments.store import orders
from tests.consistency.test_rules import SNAKE, _order, _transfer

SETTLED = {
    ("payout", "succeeded"): ("hold", "post", "out"),
    ("payout", "returned"): ("hold", "post", "out", "ret"),
    ("refund", "succeeded"): ("hold", "post", "out"),
}
HOLD_STATUS = {"hold": model.POSTED_HOLD}


def test_each_own_transfer_for_another_amount_than_its_order_is_named(
    engine: Engine, clock: ManualClock
) -> None:
    expected, order_rows, transfer_rows = set(), [], []
    n = 0
    for (kind, status), legs in SETTLED.items():
        for short in (None, *legs):
            order_id = f"o{n:03d}"
            n += 1
            order_rows.append(_order(order_id, kind, status))
            for leg in legs:
                row = _transfer(f"tr_{order_id}_{leg}", HOLD_STATUS.get(leg, "posted"))
                transfer_rows.append({**row, "amount": 999 if leg == short else 1_000})
            if short is not None:
                word = "hold" if short in ("hold", "post") else short
                expected.add((f"{kind}_{word}_amount_differs", order_id, f"tr_{order_id}_{short}"))
    with engine.begin() as conn:
        conn.execute(insert(orders), order_rows)
        conn.execute(insert(transfers), transfer_rows)

    found = FlowCheck(engine, clock).run().disagreements

    assert {(d.code, d.subject_id, d.transfer_id) for d in found} == expected


NOW = datetime(2026, 6, 1, tzinfo=UTC)
STATES = [
    ("landing", None),
    ("unmatched", None),
    ("matched", None),
    ("unmatched", "due"),
    ("refunding", "moved_back"),
    ("refunding", "refund_requested"),
    ("refunding", "reported"),
    ("refunded", "reported"),
    ("refund_failed", "reported"),
]


def _implied(status: str, step: str | None) -> set[str]:
    moves = set() if status == "landing" else {"in"}
    if step in ("moved_back", "refund_requested", "reported"):
        moves.add("back")
    if status == "refund_failed":
        moves.add("ret")
    return moves


@given(
    state=st.sampled_from(STATES),
    moved=st.sets(st.sampled_from(("in", "back", "ret"))),
    attempt=st.integers(min_value=1, max_value=4),
    age_s=st.integers(min_value=0, max_value=2 * model.IN_FLIGHT_GRACE_S),
    short=st.booleans(),
)
def test_a_receipt_rule_objects_exactly_when_a_move_disagrees_with_its_state(
    state: tuple[str, str | None], moved: set[str], attempt: int, age_s: int, short: bool
) -> None:
    status, step = state
    at = NOW - timedelta(seconds=age_s)
    found = {
        f"tr_cus_r1_{kind}{attempt}": ("posted", at, 900 if short else 1_000) for kind in moved
    }
    receipt = {
        "id": "r1", "status": status, "cutoff_step": step, "move_attempt": attempt,
        "amount": 1_000, "refund_id": "rf1", "refund_status": "succeeded",
    }  # fmt: skip

    codes = {d.code for d in model.receipt_disagreements(receipt, found, now=NOW)}

    implied = _implied(status, step)
    missing = implied - moved
    unexpected = moved - implied if age_s >= model.IN_FLIGHT_GRACE_S else set()
    wrong_amount = short and bool(moved & implied)
    expected = {model.RECEIPT_MISSING[k] for k in missing}
    expected |= {model.RECEIPT_UNEXPECTED[k] for k in unexpected}
    expected |= {"custody_receipt_amount_differs"} if wrong_amount else set()
    assert codes == expected
    assert all(SNAKE.match(code) for code in codes)


def test_a_receipt_refunded_by_an_order_that_did_not_succeed_is_named() -> None:
    receipt = {
        "id": "r1", "status": "refunded", "cutoff_step": "reported", "move_attempt": 1,
        "amount": 1_000, "refund_id": "rf1", "refund_status": "processing",
    }  # fmt: skip
    found = {f"tr_cus_r1_{k}1": ("posted", NOW, 1_000) for k in ("in", "back")}

    [disagreement] = model.receipt_disagreements(receipt, found, now=NOW)

    assert disagreement.code == "custody_receipt_refunded_order_not_succeeded"
    assert disagreement.transfer_id == "tr_rf1_hold"


def test_every_custody_move_has_its_own_codes_distinct_from_every_other_rule() -> None:
    codes = [
        *model.RECEIPT_MISSING.values(),
        *model.RECEIPT_UNEXPECTED.values(),
        *model.LEG_CODES.values(),
        *model.SINGLE_CODES.values(),
    ]
    assert set(model.RECEIPT_MISSING) == set(model.RECEIPT_UNEXPECTED) == {"in", "back", "ret"}
    assert len(set(codes)) == len(codes)
    assert all(SNAKE.match(code) for code in codes)
