"""A bank statement crediting a buyer's virtual account with no order behind it: custody
takes the money as a receipt (owed back at the cut-off) and recon keeps the statement
line, both naming the payer. For the tests of the blind index and data-subject requests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from paycore.custody.model import Role
from paycore.recon.camt_writer import StatementHeader, write_camt053
from paycore.recon.model import Counterparty, Direction, LineKind, StatementLine
from tests.custody.conftest import SHANGHAI, START, Desk

STATEMENT_DAY = date(2026, 3, 10)


def land_statement_money(
    desk: Desk, tmp_path: Path, payer: Counterparty, *, ref: str, account: str | None = None
) -> None:
    """`account`: the account credited; a new buyer's virtual account when None (custody
    then takes the money as a receipt); another account leaves only the statement line."""
    if account is None:
        account = desk.runtime.custody.open_subaccount(
            desk.merchant_id, bank="sandbox_custody", owner=f"buyer-{ref}", role=Role.BUYER
        ).virtual_account
    line = StatementLine(
        line_no=1,
        source_ref=f"BANKREF{ref}",
        kind=LineKind.PAYIN,
        direction=Direction.CREDIT,
        amount=50_000,
        currency="CNY",
        booked_at=datetime(2026, 3, 10, 15, 1, tzinfo=SHANGHAI),
        account=account,
        counterparty=payer,
    )
    header = StatementHeader(
        statement_id=f"camt{ref}",
        account_iban="CN0012345678901234567890",
        currency="CNY",
        created_at=START + timedelta(hours=3),
        period_start=STATEMENT_DAY,
        period_end=STATEMENT_DAY,
    )
    path = tmp_path / f"camt{ref}.xml"
    write_camt053(path, [line], header)
    path.write_bytes(path.read_bytes())  # the bank's statement: the test's input, not output
    desk.runtime.recon.import_file(path, format="camt053", source="alpha")
    desk.runtime.recon.run(source="alpha", business_date=STATEMENT_DAY)
