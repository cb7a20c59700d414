from paycore.ledger.model import TransferRequest
from paycore.ledger.service import AccountRequest, Ledger


def test_a_transfer_moves_money_from_debit_to_credit_account(ledger: Ledger) -> None:
    a, _ = ledger.create_account(AccountRequest(currency="CNY", id="acct_a"))
    b, _ = ledger.create_account(AccountRequest(currency="CNY", id="acct_b"))
    [result] = ledger.create_transfers(
        [
            TransferRequest(
                id="t1", debit_account_id=a.id, credit_account_id=b.id, amount=250, currency="CNY"
            )
        ]
    )
    assert result.result == "created"
    assert ledger.get_account("acct_b").credits_posted == 250  # type: ignore[union-attr]
    assert ledger.get_account("acct_a").debits_posted == 250  # type: ignore[union-attr]
    assert ledger.check().ok
