"""Money a statement shows on a custody virtual account, under the things that go wrong in
production: a payback that bounces after it succeeded, a person resolving the break while
reconciliation hands it to custody, a claimer that breaks on one line, and every worker
offering the same lines at once. The payer's money moves once, and never goes missing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, update

from paycore.channels.model import ChannelResult, ChannelStatus, FailureClass
from paycore.custody.model import ReceiptStatus, Role
from paycore.ledger.model import AccountStatus
from paycore.payments import bookkeeping as books
from paycore.recon import handover
from paycore.recon import store as recon_store
from paycore.recon.breaks import Adjustment, suspense_account
from paycore.runtime import Runtime
from tests.conftest import postgres_only
from tests.custody.conftest import SHANGHAI, Desk
from tests.custody.test_concurrency import race, workers  # noqa: F401 - a fixture
from tests.custody.test_statement_money import DAY, _balance, _camt, _credit, _import_and_run
from tests.payments.fakes import succeeded


def _statement_receipt(desk: Desk, tmp_path: Path, owner: str, amount: int) -> str:
    custody = desk.runtime.custody
    buyer = custody.open_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner=owner, role=Role.BUYER
    )
    _import_and_run(
        desk, _camt(tmp_path / f"{owner}.xml", [_credit(1, amount, buyer.virtual_account)])
    )
    [receipt] = custody.receipts(desk.merchant_id)
    return receipt.id


def test_a_payback_that_the_payers_bank_returns_after_it_succeeded_goes_back_into_custody(
    desk: Desk, tmp_path: Path
) -> None:
    custody = desk.runtime.custody
    receipt_id = _statement_receipt(desk, tmp_path, "buyer-20", 20_000)
    desk.alpha.then(succeeded("PAYBACK20"))
    desk.move_to(datetime(2026, 3, 11, 0, 0, tzinfo=SHANGHAI))
    custody.run_cutoff("sandbox_custody", DAY)
    paid = custody.get_receipt(desk.merchant_id, receipt_id)
    assert paid.status is ReceiptStatus.REFUNDED
    wallet = books.wallet_account(desk.merchant_id, "CNY")
    wallet_before = _balance(desk, wallet)

    # Days later the payer's bank sends the payback back; the bank's statement shows it.
    desk.alpha.then(
        ChannelResult(
            ChannelStatus.RETURNED,
            channel_txn_id="PAYBACK20",
            failure_code="account_closed",
            failure_class=FailureClass.USER,
        )
    )
    assert desk.runtime.payments.check_returns([str(paid.refund_id)]) == 1
    custody.tick()

    done = custody.get_receipt(desk.merchant_id, receipt_id)
    [line] = custody.cutoff_report("sandbox_custody", DAY).lines
    assert desk.balance("buyer-20") == 20_000  # the payer's money, in custody again
    assert _balance(desk, wallet) == wallet_before  # not the merchant's to pay out
    assert done.status is ReceiptStatus.REFUND_FAILED
    assert line.outcome == "needs_attention:payback_returned"
    assert desk.runtime.ledger.check().ok


def test_a_break_a_person_resolves_while_reconciliation_hands_lines_over_is_not_claimed_too(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hand-over reads the claimable lines, then claims them one by one (up to 10,000,
    minutes of work); a person who settles one of them meanwhile (paid back by hand, out
    of suspense) must not see custody take the same money out of suspense again."""
    custody, recon = desk.runtime.custody, desk.runtime.recon
    buyer = custody.open_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner="buyer-21", role=Role.BUYER
    )
    clearing = books.clearing_account("alpha", "CNY")
    read = recon_store.claimable_surplus

    def read_then_a_person_resolves(conn: Connection, **query: Any) -> list[dict[str, Any]]:
        rows = read(conn, **query)
        for row in rows:
            recon.resolve(
                int(row["id"]),
                actor="ops",
                note="paid back by hand",
                adjustment=Adjustment(suspense_account("CNY"), clearing, int(row["line_amount"])),
            )
        return rows

    monkeypatch.setattr(handover.store, "claimable_surplus", read_then_a_person_resolves)
    _import_and_run(desk, _camt(tmp_path / "camt.xml", [_credit(1, 8_000, buyer.virtual_account)]))

    [surplus] = recon.list_breaks()
    assert (surplus["status"], surplus["note"]) == ("resolved", "paid back by hand")
    assert custody.receipts(desk.merchant_id) == []
    assert desk.balance("buyer-21") == 0
    assert _balance(desk, suspense_account("CNY")) == 0  # moved out once, by the person
    assert desk.runtime.ledger.check().ok


def test_a_line_whose_payer_cannot_be_read_stays_open_and_the_run_and_other_lines_go_on(
    desk: Desk, tmp_path: Path
) -> None:
    custody, recon = desk.runtime.custody, desk.runtime.recon
    buyer = custody.open_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner="buyer-22", role=Role.BUYER
    )
    path = _camt(
        tmp_path / "camt.xml",
        [_credit(1, 1_100, buyer.virtual_account), _credit(2, 2_200, buyer.virtual_account)],
    )
    imported, _new = recon.import_file(path, format="camt053", source="alpha")
    with desk.runtime.engine.begin() as conn:  # sealed under a key since retired, say
        conn.execute(
            update(recon_store.lines)
            .where(
                recon_store.lines.c.import_id == imported["id"], recon_store.lines.c.line_no == 1
            )
            .values(counterparty_enc="v1:not-a-sealed-value")
        )

    run = recon.run(source="alpha", business_date=DAY)  # refused before: a 500, every run
    again = recon.run(source="alpha", business_date=DAY)

    breaks = {b["line_no"]: b for b in recon.list_breaks()}
    assert run["breaks_new"] == 2 and again["breaks_new"] == 0
    assert (breaks[1]["status"], breaks[2]["status"]) == ("open", "resolved")
    assert [r.amount for r in custody.receipts(desk.merchant_id)] == [2_200]
    assert _balance(desk, suspense_account("CNY")) == 1_100


@postgres_only
def test_workers_handing_over_the_same_lines_at_once_move_each_into_custody_once(
    desk: Desk,
    workers: list[Runtime],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    custody, recon = desk.runtime.custody, desk.runtime.recon
    owners = [f"buyer-3{n}" for n in range(5)]
    accounts = [
        custody.open_subaccount(
            desk.merchant_id, bank="sandbox_custody", owner=owner, role=Role.BUYER
        ).virtual_account
        for owner in owners
    ]
    statement = [_credit(n, 1_000 * n, account) for n, account in enumerate(accounts, start=1)]
    with monkeypatch.context() as patched:  # the run books suspense; the workers hand over
        patched.setattr(recon.handover, "_claimers", [])
        _import_and_run(desk, _camt(tmp_path / "camt.xml", statement))

    errors = race(lambda worker: worker.recon.handover.offer("alpha"), workers)

    receipts = custody.receipts(desk.merchant_id)
    assert errors == []
    assert sorted(r.amount for r in receipts) == [1_000, 2_000, 3_000, 4_000, 5_000]
    assert [desk.balance(owner) for owner in owners] == [1_000, 2_000, 3_000, 4_000, 5_000]
    assert _balance(desk, suspense_account("CNY")) == 0
    assert {b["status"] for b in recon.list_breaks()} == {"resolved"}
    assert desk.runtime.ledger.check().ok


def test_money_for_a_frozen_sub_account_a_person_settles_by_hand_is_not_landed_later_too(
    desk: Desk, tmp_path: Path
) -> None:
    """While the sub-account is frozen the money waits in suspense, its break open: a person
    may pay it back by hand. Unfreezing the sub-account must not move it a second time."""
    custody, recon, ledger = desk.runtime.custody, desk.runtime.recon, desk.runtime.ledger
    buyer = custody.open_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner="buyer-23", role=Role.BUYER
    )
    ledger.set_account_status(buyer.account_id, AccountStatus.FROZEN)
    _import_and_run(desk, _camt(tmp_path / "camt.xml", [_credit(1, 5_000, buyer.virtual_account)]))
    [surplus] = recon.list_breaks()
    assert surplus["status"] == "open"

    recon.resolve(
        int(surplus["id"]),
        actor="ops",
        note="paid back by hand",
        adjustment=Adjustment(
            suspense_account("CNY"), books.clearing_account("alpha", "CNY"), 5_000
        ),
    )
    ledger.set_account_status(buyer.account_id, AccountStatus.ACTIVE)
    custody.tick()
    recon.run(source="alpha", business_date=DAY)

    assert desk.balance("buyer-23") == 0
    assert _balance(desk, suspense_account("CNY")) == 0  # out once, by the person
    assert custody.receipts(desk.merchant_id) == []  # custody never took it: nothing waits
    assert desk.runtime.ledger.check().ok
