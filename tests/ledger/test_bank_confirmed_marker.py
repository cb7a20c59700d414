"""`bank_confirmed` is the flows' alone: no API caller and no CLI batch file sets it.

(What it lets through is in `test_result_codes.py`; payments' use of it in
`tests/payments/test_frozen_wallet_money_in.py`.)
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from paycore.cli import app
from paycore.ledger.model import (
    AccountOrigin,
    AccountState,
    AccountStatus,
    Caller,
    TransferRequest,
)
from paycore.ledger.posting import Posting
from paycore.ledger.service import AccountRequest, Ledger


def test_a_cli_batch_file_cannot_set_bank_confirmed(
    database_url: str, ledger: Ledger, tmp_path: Path
) -> None:
    ledger.create_account(AccountRequest(currency="CNY", id="acct_src"))
    ledger.create_account(AccountRequest(currency="CNY", id="acct_dst"))
    ledger.set_account_status("acct_dst", AccountStatus.FROZEN)
    transfer = {"id": "tr_cli_1", "debit_account_id": "acct_src", "credit_account_id": "acct_dst",
                "amount": 10, "currency": "CNY", "bank_confirmed": True}  # fmt: skip
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"transfers": [transfer]}))

    result = CliRunner().invoke(
        app,
        ["transfers", "create", "--file", str(batch)],
        env={"PAYCORE_DATABASE_URL": database_url},
    )

    assert result.exit_code == 2, result.output
    assert "bank_confirmed" in result.stderr
    assert ledger.get_transfer("tr_cli_1") is None


def test_posting_ignores_bank_confirmed_from_an_api_caller_even_past_the_service() -> None:
    """Defence in depth: the service refuses the marker from a caller; were it to reach
    posting anyway, a frozen account would still refuse the credit."""
    accounts = {
        account_id: AccountState(
            id=account_id,
            currency="CNY",
            flags=0,
            status=status,
            origin=AccountOrigin.API,
            owner_id=None,
        )
        for account_id, status in (("src", AccountStatus.ACTIVE), ("dst", AccountStatus.FROZEN))
    }
    posting = Posting(accounts=accounts, transfers={}, failed={}, now=datetime.now(UTC))
    marked = TransferRequest(
        id="t1",
        debit_account_id="src",
        credit_account_id="dst",
        amount=1,
        currency="CNY",
        bank_confirmed=True,
    )

    assert posting.apply([marked], Caller(merchant_id=None)) == ["account_frozen"]
    # Nor does a flow's marker help out of an API account: it is no system account.
    assert posting.apply([replace(marked, id="t2")]) == ["account_frozen"]
