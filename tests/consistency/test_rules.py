"""The rules themselves: every combination of an order's status and its transfers is judged
the same by the SQL filter and by the pure rule, and every code is stable and named."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, insert

from paycore.clock import ManualClock
from paycore.consistency import model, store
from paycore.consistency.service import FlowCheck
from paycore.ledger.store import transfers
from paycore.payments.store import orders

HOLD_STATUSES = (
    model.MISSING,
    model.LIVE,
    model.POSTED_HOLD,
    model.VOIDED_HOLD,
    model.EXPIRED_HOLD,
)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)
SNAKE = re.compile(r"^[a-z]+(_[a-z]+)+$")


def _order(order_id: str, kind: str, status: str, *, fee: int = 0) -> dict[str, Any]:
    return {
        "id": order_id, "kind": kind, "merchant_id": "m1", "merchant_reference": None,
        "product": "rent", "amount": 1_000, "currency": "CNY", "fee_amount": fee,
        "status": status, "result_unknown": False, "channel": "alpha",
        "channel_txn_id": None, "failure_class": None, "failure_code": None,
        "failure_message": "", "parent_id": None, "refunded_amount": 0,
        "party_enc": {}, "party_masked": {}, "expires_at": None,
        "created_at": LONG_AGO, "updated_at": LONG_AGO, "finished_at": None,
        "next_query_at": None, "query_attempts": 0, "version": 0,
    }  # fmt: skip


def _transfer(transfer_id: str, status: str) -> dict[str, Any]:
    return {
        "id": transfer_id, "debit_account_id": "acct_a", "credit_account_id": "acct_b",
        "amount": 1_000, "currency": "CNY", "flags": 0, "pending_id": None, "timeout_s": 0,
        "code": 0, "metadata": {}, "created_at": LONG_AGO, "expires_at": None,
        "status": status,
    }  # fmt: skip


def _legs_the_flow_leaves(hold_status: str, status: str) -> list[str]:
    legs = {model.POSTED_HOLD: ["post", "out"], model.VOIDED_HOLD: ["void"]}.get(hold_status, [])
    return legs + (["ret"] if status == "returned" and legs == ["post", "out"] else [])


def test_the_sql_filter_and_the_pure_rule_agree_on_every_hold_combination(
    engine: Engine, clock: ManualClock
) -> None:
    expected: set[tuple[str, str]] = set()
    order_rows, transfer_rows = [], []
    combos = itertools.product(sorted(model.HOLD_ALLOWED), HOLD_STATUSES, (False, True))
    for n, ((kind, status), hold_status, drop_legs) in enumerate(combos):
        order_id = f"o{n:03d}"
        order_rows.append(_order(order_id, kind, status))
        if hold_status != model.MISSING:
            transfer_rows.append(_transfer(f"tr_{order_id}_hold", hold_status))
        legs = [] if drop_legs else _legs_the_flow_leaves(hold_status, status)
        transfer_rows += [_transfer(f"tr_{order_id}_{leg}", "posted") for leg in legs]
        facts = model.HoldFacts(
            order_id=order_id, kind=kind, status=status, updated_at=LONG_AGO,
            hold_status=hold_status, legs=dict.fromkeys(legs, LONG_AGO),
        )  # fmt: skip
        found = model.hold_disagreement(facts, now=clock.now())
        if found is not None:
            expected.add((found.code, order_id))
    with engine.begin() as conn:
        conn.execute(insert(orders), order_rows)
        conn.execute(insert(transfers), transfer_rows)

    report = FlowCheck(engine, clock).run()

    assert {(d.code, d.subject_id) for d in report.disagreements} == expected
    assert report.found == len(expected) > 0


def test_pay_ins_are_settled_exactly_when_they_succeeded(
    engine: Engine, clock: ManualClock
) -> None:
    statuses = ("created", "processing", "succeeded", "failed", "closed")
    expected = set()
    with engine.begin() as conn:
        for n, (status, settled, fee) in enumerate(
            itertools.product(statuses, (False, True), (0, 1_000))
        ):
            order_id = f"pay{n:03d}"
            conn.execute(insert(orders), [_order(order_id, "payin", status, fee=fee)])
            if settled:
                leg = "fee" if fee == 1_000 else "cap"
                conn.execute(insert(transfers), [_transfer(f"tr_{order_id}_{leg}", "posted")])
            if settled != (status == "succeeded"):
                word = "not_settled" if status == "succeeded" else "settled"
                expected.add((f"payin_{status}_{word}", order_id))

    found = FlowCheck(engine, clock).run().disagreements

    assert {(d.code, d.subject_id) for d in found} == expected


def test_a_big_table_is_read_in_pages_and_every_page_is_checked(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "PAGE_ROWS", 3)
    rows = [_order(f"po{n:02d}", "payout", "processing") for n in range(10)]
    with engine.begin() as conn:
        conn.execute(insert(orders), rows)
        pages = list(store.pages(conn, orders.c.id))

    found = FlowCheck(engine, clock).run().disagreements

    assert pages == [(None, "po02"), ("po02", "po05"), ("po05", "po08"), ("po08", None)]
    assert [d.subject_id for d in found] == [f"po{n:02d}" for n in range(10)]


@given(
    key=st.sampled_from(sorted(model.HOLD_ALLOWED)),
    hold_status=st.sampled_from(HOLD_STATUSES),
    legs=st.sets(st.sampled_from(("post", "void", "out", "ret"))),
    age_s=st.integers(min_value=0, max_value=10 * model.IN_FLIGHT_GRACE_S),
)
def test_a_hold_rule_objects_exactly_when_the_hold_or_a_required_leg_is_wrong(
    key: tuple[str, str], hold_status: str, legs: set[str], age_s: int
) -> None:
    kind, status = key
    now = datetime(2026, 6, 1, tzinfo=UTC)
    at = now - timedelta(seconds=age_s)
    facts = model.HoldFacts(
        order_id="po1", kind=kind, status=status, updated_at=at, hold_status=hold_status,
        legs=dict.fromkeys(legs, at),
    )  # fmt: skip

    found = model.hold_disagreement(facts, now=now)

    hold_ok = hold_status in model.HOLD_ALLOWED[key]
    legs_ok = set(model.LEGS_REQUIRED.get(key, ())) <= legs
    own = {model.POSTED_HOLD: "post", model.VOIDED_HOLD: "void"}.get(hold_status)
    in_flight = (
        status in ("created", "processing") and own in legs and age_s < model.IN_FLIGHT_GRACE_S
    )
    if (hold_ok and legs_ok) or (not hold_ok and in_flight):
        assert found is None
    else:
        assert found is not None
        assert found.code.startswith(f"{kind}_{status}_") and SNAKE.match(found.code)
        assert found.subject_id == "po1" and found.transfer_id.startswith("tr_po1_")


def test_every_split_leg_state_has_its_own_code() -> None:
    assert set(model.LEG_CODES) == set(model.LEG_ALLOWED)
    codes = [*model.LEG_CODES.values(), *model.SINGLE_CODES.values()]
    assert len(set(codes)) == len(codes)
    assert all(SNAKE.match(code) for code in codes)
