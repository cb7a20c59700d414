"""Money a bank statement shows on a custody virtual account with no pay-in: reconciliation
books it to suspense and hands it to custody, whose cut-off pays it back to the payer the
statement names, by payout."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from paycore.custody import store as custody_store
from paycore.custody.model import ReceiptOrigin, ReceiptStatus, Role, SubAccount
from paycore.payments.model import OrderKind
from paycore.recon import handover
from paycore.recon.breaks import suspense_account
from paycore.recon.camt_writer import StatementHeader, write_camt053
from paycore.recon.daily import GRACE_S, DailyClose
from paycore.recon.model import Counterparty, Direction, LineKind, StatementLine
from paycore.sandbox_bank import statement as bank_statement
from paycore.sandbox_bank.credits import Credit
from tests.custody.conftest import SHANGHAI, START, Desk
from tests.payments.conftest import fund_merchant
from tests.payments.fakes import declined, succeeded

DAY = date(2026, 3, 10)
PAYER = Counterparty(account_number="6222021234567890128", name="王五")


def _camt(path: Path, lines: list[StatementLine]) -> Path:
    header = StatementHeader(
        statement_id=path.stem,
        account_iban="CN0012345678901234567890",
        currency="CNY",
        created_at=START + timedelta(hours=3),
        period_start=DAY,
        period_end=DAY,
    )
    write_camt053(path, lines, header)
    return path


def _credit(n: int, amount: int, account: str, payer: Counterparty | None = PAYER) -> StatementLine:
    return StatementLine(
        line_no=n,
        source_ref=f"BANKREF{n}",
        kind=LineKind.PAYIN,
        direction=Direction.CREDIT,
        amount=amount,
        currency="CNY",
        booked_at=datetime(2026, 3, 10, 15, n, tzinfo=SHANGHAI),
        account=account,
        counterparty=payer,
    )


def _buyer(desk: Desk, owner: str) -> SubAccount:
    return desk.runtime.custody.open_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner=owner, role=Role.BUYER
    )


def _balance(desk: Desk, account_id: str) -> int:
    found = desk.runtime.ledger.get_account(account_id)
    return 0 if found is None else found.credits_posted - found.debits_posted


def _import_and_run(desk: Desk, path: Path) -> dict[str, object]:
    recon = desk.runtime.recon
    recon.import_file(path, format="camt053", source="alpha")
    return recon.run(source="alpha", business_date=DAY)


def test_a_transfer_straight_to_a_virtual_account_becomes_a_receipt_refunded_at_the_cut_off(
    desk: Desk, tmp_path: Path
) -> None:
    custody = desk.runtime.custody
    buyer = _buyer(desk, "buyer-7")
    fund_merchant(desk.runtime.ledger, desk.merchant_id, 1_000)  # the payout's fee, if any
    statement = [
        _credit(1, 50_000, buyer.virtual_account),
        _credit(2, 7_700, "9999000011112222"),  # nobody's virtual account
    ]

    _import_and_run(desk, _camt(tmp_path / "camt.xml", statement))
    breaks = {b["line_no"]: b for b in desk.runtime.recon.list_breaks()}
    receipt = custody.get_receipt(desk.merchant_id, f"stm_brk{breaks[1]['id']}")

    assert breaks[1]["status"] == "resolved" and receipt.id in str(breaks[1]["note"])
    assert breaks[2]["status"] == "open"  # not custody's: it waits in suspense
    assert (receipt.origin, receipt.status, receipt.owner, receipt.amount) == (
        ReceiptOrigin.STATEMENT, ReceiptStatus.UNMATCHED, "buyer-7", 50_000,
    )  # fmt: skip
    assert receipt.business_date == DAY
    assert desk.balance("buyer-7") == 50_000
    assert _balance(desk, suspense_account("CNY")) == 7_700

    desk.alpha.then(succeeded("PAYBACK1"))
    desk.move_to(datetime(2026, 3, 11, 0, 0, tzinfo=SHANGHAI))
    run = custody.run_cutoff("sandbox_custody", DAY)
    done = custody.get_receipt(desk.merchant_id, receipt.id)
    assert done.refund_id is not None
    payout = desk.runtime.payments.get(merchant_id=None, order_id=done.refund_id)
    request = desk.alpha.requests[payout.id]

    assert payout.kind is OrderKind.PAYOUT and payout.amount == 50_000
    assert request.beneficiary.account_number == PAYER.account_number  # type: ignore[union-attr]
    assert request.beneficiary.name == PAYER.name  # type: ignore[union-attr]
    assert done.status is ReceiptStatus.REFUNDED
    assert [line.outcome for line in run.lines] == ["refunded"]
    assert desk.balance("buyer-7") == 0
    assert desk.runtime.ledger.check().ok


def test_the_same_statement_line_offered_again_lands_in_custody_once(
    desk: Desk, tmp_path: Path
) -> None:
    custody = desk.runtime.custody
    buyer = _buyer(desk, "buyer-8")
    path = _camt(tmp_path / "camt.xml", [_credit(1, 12_345, buyer.virtual_account)])

    _import_and_run(desk, path)
    desk.runtime.recon.run(source="alpha", business_date=DAY)
    desk.runtime.recon.handover.offer("alpha")

    receipts = custody.receipts(desk.merchant_id)
    assert [(r.origin, r.amount) for r in receipts] == [(ReceiptOrigin.STATEMENT, 12_345)]
    assert desk.balance("buyer-8") == 12_345
    assert _balance(desk, suspense_account("CNY")) == 0


def test_money_on_a_virtual_account_with_no_payer_named_stays_in_suspense(
    desk: Desk, tmp_path: Path
) -> None:
    custody = desk.runtime.custody
    buyer = _buyer(desk, "buyer-9")
    path = _camt(tmp_path / "camt.xml", [_credit(1, 4_000, buyer.virtual_account, payer=None)])

    _import_and_run(desk, path)

    [surplus] = desk.runtime.recon.list_breaks()
    assert surplus["status"] == "open"  # no one to pay it back to: a person decides
    assert custody.receipts(desk.merchant_id) == []
    assert _balance(desk, suspense_account("CNY")) == 4_000


def test_a_payback_the_payers_bank_declines_puts_the_money_back_in_the_sub_account(
    desk: Desk, tmp_path: Path
) -> None:
    custody = desk.runtime.custody
    buyer = _buyer(desk, "buyer-10")
    _import_and_run(desk, _camt(tmp_path / "camt.xml", [_credit(1, 9_000, buyer.virtual_account)]))
    [surplus] = desk.runtime.recon.list_breaks()

    desk.alpha.then(declined("account_closed"))
    desk.move_to(datetime(2026, 3, 11, 0, 0, tzinfo=SHANGHAI))
    run = custody.run_cutoff("sandbox_custody", DAY)
    receipt = custody.get_receipt(desk.merchant_id, f"stm_brk{surplus['id']}")

    assert receipt.status is ReceiptStatus.REFUND_FAILED
    assert [line.outcome for line in run.lines] == ["needs_attention:account_closed"]
    assert desk.balance("buyer-10") == 9_000  # back in custody, for operations to settle
    assert desk.runtime.ledger.check().ok


def test_a_credit_on_the_banks_daily_statement_is_paid_back_after_the_daily_close(
    desk: Desk, tmp_path: Path
) -> None:
    """The whole way: the bank's CSV statement (a CREDIT row, as the sandbox bank writes
    it) fetched by the daily close, matched to nothing, claimed by custody, and the next
    cut-off tick pays it back."""
    custody = desk.runtime.custody
    buyer = _buyer(desk, "buyer-11")
    fund_merchant(desk.runtime.ledger, desk.merchant_id, 1_000)
    credit = Credit(
        bank_txn_no="BT-CREDIT-1", merchant_id="paycore", account=buyer.virtual_account,
        amount_minor=66_600, currency="CNY", payer_account=PAYER.account_number,
        payer_name=PAYER.name, booked_at=datetime(2026, 3, 10, 15, 30, tzinfo=SHANGHAI),
    )  # fmt: skip

    def fetch(day: date) -> bytes:
        lines = bank_statement.statement_lines([], day, SHANGHAI, [credit])
        return bank_statement.render_statement(lines, day, SHANGHAI)

    desk.alpha.statement_format = "sandbox_csv"  # type: ignore[attr-defined]
    desk.alpha.fetch_statement = fetch  # type: ignore[method-assign]
    daily = DailyClose(
        desk.runtime.recon, desk.runtime.channels.registry, data_dir=tmp_path, clock=desk.clock
    )
    desk.move_to(datetime(2026, 3, 11, 0, 0, tzinfo=SHANGHAI) + timedelta(seconds=GRACE_S))
    daily.tick()  # the day before DAY and DAY itself: both due, DAY holds the credit

    [receipt] = custody.receipts(desk.merchant_id)
    desk.alpha.then(succeeded("PAYBACK2"))
    custody.tick()
    done = custody.get_receipt(desk.merchant_id, receipt.id)
    payout = desk.runtime.payments.get(merchant_id=None, order_id=str(done.refund_id))

    assert (receipt.origin, receipt.amount, receipt.business_date) == (
        ReceiptOrigin.STATEMENT, 66_600, DAY,
    )  # fmt: skip
    assert done.status is ReceiptStatus.REFUNDED
    assert (payout.kind, payout.amount) == (OrderKind.PAYOUT, 66_600)
    assert desk.runtime.ledger.check().ok


def test_a_payer_that_cannot_be_read_at_the_cut_off_is_reported_and_the_money_stays_in_custody(
    desk: Desk, tmp_path: Path
) -> None:
    custody = desk.runtime.custody
    buyer = _buyer(desk, "buyer-12")
    _import_and_run(desk, _camt(tmp_path / "camt.xml", [_credit(1, 5_000, buyer.virtual_account)]))
    [receipt] = custody.receipts(desk.merchant_id)
    with desk.runtime.engine.begin() as conn:  # sealed under a key since retired, say
        conn.execute(
            update(custody_store.receipts)
            .where(custody_store.receipts.c.id == receipt.id)
            .values(payer_enc="v1:retired-key:AAAA")
        )

    desk.move_to(datetime(2026, 3, 11, 0, 0, tzinfo=SHANGHAI))
    run = custody.run_cutoff("sandbox_custody", DAY)
    after = custody.get_receipt(desk.merchant_id, receipt.id)

    assert after.status is ReceiptStatus.REFUND_FAILED
    assert [line.outcome for line in run.lines] == ["needs_attention:payer_unreadable"]
    assert desk.balance("buyer-12") == 5_000


def test_money_no_one_claims_does_not_hide_later_money_from_custody(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handover, "CLAIMS_PAGE", 1)
    buyer = _buyer(desk, "buyer-13")
    statement = [
        _credit(1, 1_100, "9999000011113333"),  # nobody's virtual account, offered first
        _credit(2, 2_200, "9999000011114444"),
        _credit(3, 3_300, buyer.virtual_account),
    ]

    _import_and_run(desk, _camt(tmp_path / "camt.xml", statement))

    assert desk.balance("buyer-13") == 3_300
    assert _balance(desk, suspense_account("CNY")) == 1_100 + 2_200
