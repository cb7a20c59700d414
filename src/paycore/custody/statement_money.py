"""Money a bank statement shows on a custody virtual account with no pay-in behind it.

A payer may transfer straight to the virtual account the bank gave a sub-account, without
any order in paycore. Reconciliation finds the line with no order, books it to suspense
and offers it here (see recon/handover.py): when the line's account is one of our virtual
accounts, the money moves from suspense into that sub-account and becomes a receipt of
origin `statement`, sealed with the payer the statement names. From then on it is a
receipt like any other: a deal may claim it before the day's cut-off, and the cut-off pays
it back to that payer by payout (a pay-in-less receipt has nothing to refund through).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine

from paycore.channels.model import BankAccount
from paycore.clock import Clock
from paycore.custody import store
from paycore.custody.landing import Landing
from paycore.custody.model import (
    CustodyBank,
    Receipt,
    ReceiptOrigin,
    ReceiptStatus,
    business_date_of,
)
from paycore.custody.subaccounts import VirtualAccounts
from paycore.ledger.model import AccountStatus
from paycore.ledger.service import Ledger
from paycore.payments import bookkeeping as books
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher
from paycore.security.masking import mask_account_number
from paycore.security.subjects_choice import payer_subject

log = logging.getLogger(__name__)


class StatementMoney:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        ledger: Ledger,
        cipher: FieldCipher,
        landing: Landing,
        banks: Sequence[CustodyBank],
        numbers: VirtualAccounts,
        blind: BlindIndex | None = None,
    ) -> None:
        self._engine = engine
        self._numbers = numbers
        self._blind = blind
        self._clock = clock
        self._ledger = ledger
        self._cipher = cipher
        self._landing = landing
        self._banks = list(banks)

    def take(
        self,
        *,
        ref: str,
        virtual_account: str,
        amount: int,
        currency: str,
        received_at: datetime,
        payer: BankAccount,
        held_in: str,
    ) -> str | None:
        """Move the money from `held_in` into the sub-account of `virtual_account`; a note
        saying so, or None when the account is not ours or the move has to wait (a frozen
        sub-account: nothing is recorded, and the next offer tries again unless a person
        settled the break meanwhile). The same `ref` twice moves it once."""
        found = self._subaccount(virtual_account, currency)
        if found is None:
            return None
        bank, row = found
        receipt_id = f"stm_{ref}"
        with self._engine.connect() as conn:
            receipt = store.get_receipt(conn, receipt_id)
        if receipt is None and not self._takes_money(str(row["account_id"])):
            # Record nothing yet: a receipt waiting to land would land once the sub-account
            # thaws, even after a person settled the open break by hand meanwhile.
            log.info("custody receipt %s waits: its sub-account takes no money now", receipt_id)
            return None
        # The cut-off pays it back through the merchant's wallet, which may never have
        # had a pay-in yet.
        self._ledger.create_accounts([books.wallet_request(str(row["merchant_id"]), currency)])
        if receipt is None:
            receipt = self._landing.record(
                Receipt(
                    id=receipt_id,
                    bank=bank.name,
                    merchant_id=str(row["merchant_id"]),
                    owner=str(row["owner"]),
                    amount=amount,
                    currency=currency,
                    received_at=received_at,
                    business_date=business_date_of(bank, received_at),
                    status=ReceiptStatus.LANDING,
                    origin=ReceiptOrigin.STATEMENT,
                    payer_enc=self._cipher.encrypt(
                        json.dumps({"account_number": payer.account_number, "name": payer.name}),
                        context=_payer_context(receipt_id),
                        subject=payer_subject(
                            self._cipher, self._blind, {"account_number": payer.account_number}
                        ),
                    ),
                    source_account=held_in,
                ),
                on_record=self._indexing(receipt_id, str(row["merchant_id"]), payer),
            )
        if receipt.status is ReceiptStatus.LANDING:
            receipt = self._landing.post(bank, receipt)
        if receipt.status is ReceiptStatus.LANDING:
            return None
        return (
            f"custody receipt {receipt.id} in {bank.name} "
            f"{mask_account_number(virtual_account)} ({receipt.owner}): "
            f"unless a deal claims it, paid back to its payer at the {bank.cutoff} cut-off"
        )

    def _indexing(
        self, receipt_id: str, merchant_id: str, payer: BankAccount
    ) -> Callable[[Connection], None] | None:
        """The blind index of a statement payer's account number, written with the receipt."""
        blind = self._blind
        if blind is None:
            return None
        return lambda conn: blind.write(
            conn,
            object_type="custody_receipt",
            object_id=receipt_id,
            merchant_id=merchant_id,
            numbers={"account_number": payer.account_number},
        )

    def payer(self, receipt: Receipt) -> BankAccount:
        """Whom a `statement` receipt goes back to (decrypted for the payout only)."""
        if receipt.payer_enc is None:
            raise ValueError(f"receipt {receipt.id} has no payer")
        document = json.loads(
            self._cipher.decrypt(receipt.payer_enc, context=_payer_context(receipt.id))
        )
        return BankAccount(account_number=document["account_number"], name=document["name"])

    def _takes_money(self, account_id: str) -> bool:
        account = self._ledger.get_account(account_id)
        return account is not None and account.status is AccountStatus.ACTIVE

    def _subaccount(
        self, virtual_account: str, currency: str
    ) -> tuple[CustodyBank, dict[str, object]] | None:
        with self._engine.connect() as conn:
            for bank in self._banks:
                row = self._numbers.find(conn, bank=bank.name, number=virtual_account)
                if row is None:
                    continue
                if bank.currency != currency:
                    log.warning("%s credited in %s, not %s", bank.name, currency, bank.currency)
                    return None
                return bank, dict(row)
        return None


def _payer_context(receipt_id: str) -> str:
    return f"custody-payer:{receipt_id}"
