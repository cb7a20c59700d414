"""Wallet use cases: open, read, statement, top up from the merchant, repay debts.

Balances live in the ledger only; a Wallet is a view of two ledger accounts.
"""

from __future__ import annotations

import hashlib

from paycore import ids, limits
from paycore.errors import Rejected
from paycore.ledger.model import AccountFlags, TransferRequest
from paycore.ledger.service import AccountRequest, EntryPage, Ledger
from paycore.money import is_known_currency
from paycore.payments import bookkeeping as books
from paycore.wallets.model import (
    CODE_USER_RECEIVABLE,
    CODE_USER_WALLET,
    REASON_DEBT_REPAYMENT,
    REASON_TOP_UP,
    Wallet,
    check_owner,
    ledger_owner,
    receivable_account,
    repayable,
    wallet_account,
)

DEBTORS_PER_SWEEP = 500
"""Debts looked at per sweep; the next sweep takes the rest (the flows worker runs every 2 s)."""


class Wallets:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def open(
        self, merchant_id: str, owner: str, currency: str, *, allow_negative: bool = False
    ) -> Wallet:
        """Open (or find) the user's wallet; opening it again with the same terms is a no-op."""
        check_owner(owner)
        if not is_known_currency(currency):
            raise Rejected("unknown_currency", f"{currency!r} is not ISO 4217")
        meta = {"merchant_id": merchant_id, "owner": owner}
        flags = AccountFlags.NONE if allow_negative else AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        try:
            self._ledger.create_accounts(
                [
                    AccountRequest(
                        id=wallet_account(merchant_id, owner, currency),
                        currency=currency,
                        code=CODE_USER_WALLET,
                        owner_id=ledger_owner(merchant_id, owner),
                        flags=flags,
                        metadata=meta,
                    ),
                    AccountRequest(
                        id=receivable_account(merchant_id, owner, currency),
                        currency=currency,
                        code=CODE_USER_RECEIVABLE,
                        owner_id=ledger_owner(merchant_id, owner),
                        # Repayments never exceed the debt.
                        flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
                        metadata=meta,
                    ),
                ]
            )
        except Rejected as exc:
            if exc.code.startswith("exists_with_different"):
                raise Rejected(
                    "wallet_exists_with_different_terms",
                    f"{owner}'s {currency} wallet exists with allow_negative={not allow_negative}",
                ) from exc
            raise
        return self.get(merchant_id, owner, currency)

    def find(self, merchant_id: str, owner: str, currency: str) -> Wallet | None:
        wallet = self._ledger.get_account(wallet_account(merchant_id, owner, currency))
        if wallet is None:
            return None
        debt = self._ledger.get_account(receivable_account(merchant_id, owner, currency))
        owed = (debt.debits_posted - debt.credits_posted) if debt is not None else 0
        return Wallet(
            merchant_id=merchant_id,
            owner=owner,
            currency=currency,
            account_id=wallet.id,
            balance=wallet.credits_posted - wallet.debits_posted,
            held=wallet.debits_pending,
            incoming=wallet.credits_pending,
            available=wallet.available,
            debt=owed,
            allow_negative=not wallet.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        )

    def get(self, merchant_id: str, owner: str, currency: str) -> Wallet:
        """The wallet, or `wallet_not_found` (also for another merchant's user)."""
        wallet = self.find(merchant_id, owner, currency)
        if wallet is None:
            raise Rejected("wallet_not_found", f"{owner} has no {currency} wallet")
        return wallet

    def list(self, merchant_id: str, owner: str) -> list[Wallet]:
        check_owner(owner)
        page = self._ledger.list_accounts(
            owner_id=ledger_owner(merchant_id, owner), limit=limits.ACCOUNTS_PAGE_MAX
        )
        return [
            self.get(merchant_id, owner, a.currency)
            for a in page.accounts
            if a.code == CODE_USER_WALLET
        ]

    def statement(
        self,
        merchant_id: str,
        owner: str,
        currency: str,
        *,
        limit: int = limits.ENTRIES_PAGE_DEFAULT,
        after: str | None = None,
        debts: bool = False,
    ) -> EntryPage:
        """The wallet's journal entries, newest first (or, with `debts`, its receivable's)."""
        self.get(merchant_id, owner, currency)
        account = (receivable_account if debts else wallet_account)(merchant_id, owner, currency)
        return self._ledger.entries(account, limit=limit, after=after)

    def top_up(
        self, merchant_id: str, owner: str, currency: str, *, amount: int, reference: str
    ) -> str:
        """Move money from the merchant's wallet to its user's. Idempotent by `reference`:
        the same reference with the same amount moves the money once."""
        if amount <= 0 or amount > limits.PAYMENT_AMOUNT_MAX:
            raise Rejected("invalid_amount", f"amount is 1 to {limits.PAYMENT_AMOUNT_MAX}")
        self.get(merchant_id, owner, currency)
        digest = hashlib.blake2b(f"{merchant_id}|{reference}".encode(), digest_size=12).hexdigest()
        transfer_id = f"tr_top_{digest}"
        [result] = self._ledger.create_transfers(
            [
                TransferRequest(
                    id=transfer_id,
                    debit_account_id=books.wallet_account(merchant_id, currency),
                    credit_account_id=wallet_account(merchant_id, owner, currency),
                    amount=amount,
                    currency=currency,
                    code=REASON_TOP_UP,
                    metadata={"merchant_id": merchant_id, "owner": owner, "reference": reference},
                )
            ]
        )
        _raise_unless_done(result.result, reference)
        self.repay_debt(merchant_id, owner, currency)
        return transfer_id

    def repay_debt(self, merchant_id: str, owner: str, currency: str) -> int:
        """Repay what the wallet can of its owner's debt; returns the amount repaid.
        The receivable's flag makes a racing second repayment fail rather than overpay."""
        wallet = self.find(merchant_id, owner, currency)
        if wallet is None:
            return 0
        amount = repayable(wallet.available, wallet.debt)
        if not amount:
            return 0
        [result] = self._ledger.create_transfers(
            [
                TransferRequest(
                    id=ids.new_id("tr_rpy"),
                    debit_account_id=wallet.account_id,
                    credit_account_id=receivable_account(merchant_id, owner, currency),
                    amount=amount,
                    currency=currency,
                    code=REASON_DEBT_REPAYMENT,
                    metadata={"merchant_id": merchant_id, "owner": owner},
                )
            ]
        )
        return amount if result.result == "created" else 0

    def repay_debts(self, *, limit: int = DEBTORS_PER_SWEEP) -> int:
        """Offset every debt its wallet can now cover, whatever brought the money in (a
        split, a reward, rent, a top-up); returns the total repaid. Reads only accounts in
        debit, through a partial index."""
        repaid = 0
        for receivable in self._ledger.accounts_in_debit(CODE_USER_RECEIVABLE, limit=limit):
            merchant_id = str(receivable.metadata.get("merchant_id", ""))
            owner = str(receivable.metadata.get("owner", ""))
            if merchant_id and owner:
                repaid += self.repay_debt(merchant_id, owner, receivable.currency)
        return repaid

    def tick(self) -> None:
        """Periodic work, called by the runtime's flows worker."""
        self.repay_debts()


def _raise_unless_done(result: str, reference: str) -> None:
    if result in ("created", "exists"):
        return
    if result == "exceeds_credits":
        raise Rejected("insufficient_balance", "the merchant's wallet cannot cover it")
    if result in ("debit_account_not_found",):
        raise Rejected("insufficient_balance", "the merchant's wallet is empty")
    if result == "id_already_failed":
        # The ledger remembers a failed id: a retry must not succeed later by surprise.
        raise Rejected("reference_already_failed", f"{reference} failed before; use a new one")
    if result.startswith("exists_with_different"):
        raise Rejected("reference_reused", f"{reference} was used for a different top-up")
    raise Rejected(result, f"the ledger refused the top-up {reference}")
