"""Breaks that get resolved: suspense, query-back, the workflow and its audit trail."""

from __future__ import annotations

from pathlib import Path

import pytest

from paycore.errors import Rejected
from paycore.ledger.model import AccountStatus
from paycore.payments import bookkeeping as books
from paycore.payments.model import OrderStatus
from paycore.recon.breaks import Adjustment, suspense_account
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from tests.payments.fakes import ScriptedChannel, succeeded
from tests.recon.conftest import DAY, START, Row, pay, write_statement


def _import(recon: Recon, path: Path, rows: list[Row]) -> None:
    recon.import_file(write_statement(path, rows), format="test_csv", source="alpha")


def _balance(runtime: Runtime, account_id: str) -> int:
    account = runtime.ledger.get_account(account_id)
    assert account is not None
    return account.credits_posted - account.debits_posted


def test_money_with_no_order_goes_to_suspense_once_however_often_the_day_runs(
    recon: Recon, runtime: Runtime, tmp_path: Path
) -> None:
    _import(
        recon,
        tmp_path / "d.csv",
        [Row("IN", 7_700), Row("OUT", 1_200, kind="payout", direction="debit")],
    )
    for _ in range(3):
        recon.run(source="alpha", business_date=DAY)

    surplus = recon.list_breaks(type_="missing_on_our_side")
    assert len(surplus) == 2
    assert all(b["suspense_transfer_id"] for b in surplus)
    assert _balance(runtime, suspense_account("CNY")) == 7_700 - 1_200
    assert _balance(runtime, books.clearing_account("alpha", "CNY")) == -(7_700 - 1_200)
    [money_in] = [b for b in surplus if b["direction"] == "credit"]
    transfer = runtime.ledger.get_transfer(str(money_in["suspense_transfer_id"]))
    assert transfer is not None and transfer.amount == 7_700


def test_a_status_mismatch_queries_the_channel_and_a_later_run_closes_it(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    order = pay(runtime, alpha, merchant_id, amount=3_000, outcome="processing")
    _import(recon, tmp_path / "d.csv", [Row("P", 3_000, reference=order.id, fee=30)])

    report = recon.run(source="alpha", business_date=DAY)

    assert report["queried_back"] == 1
    due = runtime.payments.get(merchant_id=None, order_id=order.id)
    assert due.next_query_at == START
    alpha.then(succeeded("TX-P"))
    runtime.janitor.sweep()
    assert runtime.payments.get(merchant_id=None, order_id=order.id).status is (
        OrderStatus.SUCCEEDED
    )

    again = recon.run(source="alpha", business_date=DAY)

    assert again["auto_resolved"] == 1 and again["queried_back"] == 0
    [found] = recon.list_breaks(type_="status_mismatch")
    assert found["status"] == "resolved"
    trail = recon.get_break(int(found["id"]))["events"]
    assert [(e["actor"], e["from_status"], e["to_status"]) for e in trail] == [
        ("recon", "open", "resolved")
    ]


def test_a_break_is_investigated_then_resolved_with_one_adjustment_and_an_audit_trail(
    recon: Recon, runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, tmp_path: Path
) -> None:
    order = pay(runtime, alpha, merchant_id, amount=20_000, txn="T2")
    _import(recon, tmp_path / "d.csv", [Row("L", 19_900, channel_txn_id="T2", fee=200)])
    recon.run(source="alpha", business_date=DAY)
    [found] = recon.list_breaks(type_="amount_mismatch")
    break_id = int(found["id"])
    clearing = books.clearing_account("alpha", "CNY")
    before = _balance(runtime, clearing)

    recon.investigate(break_id, actor="ops:li", note="asking the channel")
    adjustment = Adjustment(books.fee_account("CNY"), clearing, 100)
    resolved = recon.resolve(
        break_id, actor="ops:li", note="channel kept 1.00 as a fee", adjustment=adjustment
    )
    with pytest.raises(Rejected) as again:
        recon.resolve(break_id, actor="ops:li", note="twice", adjustment=adjustment)

    assert again.value.code == "break_already_resolved"
    assert resolved["status"] == "resolved"
    assert resolved["adjustment_transfer_id"] == f"tr_adj_brk{break_id}_0"
    assert _balance(runtime, clearing) == before + 100
    assert [(e["actor"], e["from_status"], e["to_status"]) for e in resolved["events"]] == [
        ("ops:li", "open", "investigating"),
        ("ops:li", "investigating", "resolved"),
    ]
    assert resolved["events"][1]["transfer_id"] == resolved["adjustment_transfer_id"]
    assert order.amount == 20_000


def test_a_refused_adjustment_leaves_the_break_open_and_the_retry_uses_a_new_id(
    recon: Recon, runtime: Runtime, tmp_path: Path
) -> None:
    _import(recon, tmp_path / "d.csv", [Row("S", 500)])
    recon.run(source="alpha", business_date=DAY)
    [found] = recon.list_breaks(type_="missing_on_our_side")
    break_id = int(found["id"])

    clearing = books.clearing_account("alpha", "CNY")
    adjustment = Adjustment(suspense_account("CNY"), clearing, 500)
    runtime.ledger.set_account_status(clearing, AccountStatus.FROZEN)
    with pytest.raises(Rejected) as frozen:
        recon.resolve(break_id, actor="ops", note="refund", adjustment=adjustment)
    runtime.ledger.set_account_status(clearing, AccountStatus.ACTIVE)
    with pytest.raises(Rejected) as no_note:
        recon.resolve(break_id, actor="ops", note="  ")
    resolved = recon.resolve(
        break_id, actor="ops", note="paid back to the sender", adjustment=adjustment
    )

    assert frozen.value.code == "adjustment_refused"
    assert "account_frozen" in frozen.value.detail
    assert no_note.value.code == "note_required"
    assert resolved["adjustment_transfer_id"] == f"tr_adj_brk{break_id}_1"
    assert _balance(runtime, suspense_account("CNY")) == 0


def test_breaks_are_filtered_and_bad_filters_or_ids_are_refused(
    recon: Recon, tmp_path: Path
) -> None:
    _import(recon, tmp_path / "d.csv", [Row("S", 500)])
    recon.run(source="alpha", business_date=DAY)

    assert len(recon.list_breaks(status="open", type_="missing_on_our_side")) == 1
    assert recon.list_breaks(status="resolved") == []
    for call, code in (
        (lambda: recon.list_breaks(status="closed"), "invalid_break_status"),
        (lambda: recon.list_breaks(type_="lost"), "invalid_break_type"),
        (lambda: recon.get_break(999_999), "break_not_found"),
        (lambda: recon.investigate(999_999, actor="ops"), "break_not_found"),
    ):
        with pytest.raises(Rejected) as refused:
            call()
        assert refused.value.code == code
