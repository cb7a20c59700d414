"""Owners' sub-accounts at a custody bank: a ledger account each, mapped to the bank's
virtual account number. Opening one also opens the bank's pool and funding accounts.

A virtual account number is one buyer's account (C2): it is kept as a FieldCipher token
(context `custody-va:<bank>:<merchant>:<owner>`, the row's key) plus its blind token
(kind `account_number`), by which matching finds the sub-account a payer transferred to.
The owning merchant still sees it in clear: it has to tell its payers where to pay.

After a blind-key rotation, matching tries one token per configured key, and `paycore
security lookup backfill` re-hashes every sealed number under the new key
(`VirtualAccounts.rehash_page`), so the old key can be retired without losing a sub-account."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from paycore.clock import Clock
from paycore.custody import store
from paycore.custody.bookkeeping import (
    CODE_FUNDING,
    CODE_POOL,
    CODE_SUBACCOUNT,
    funding_account,
    pool_account,
    subaccount_id,
)
from paycore.custody.model import (
    CustodyBank,
    Role,
    SubAccount,
    check_virtual_account,
    virtual_account_number,
)
from paycore.errors import Rejected
from paycore.ledger.model import AccountFlags
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import WRITER
from paycore.security.blind import BlindIndexer, normalize
from paycore.security.crypto import CipherError, FieldCipher
from paycore.security.masking import mask_account_number
from paycore.wallets.model import check_owner, ledger_owner

log = logging.getLogger(__name__)

LIST_MAX = 500


def virtual_account_context(bank: str, merchant_id: str, owner: str) -> str:
    """Binds a sealed number to its sub-account row (its primary key)."""
    return f"custody-va:{bank}:{merchant_id}:{owner}"


class VirtualAccounts:
    """Seals, opens and hashes virtual account numbers; shared by the sub-accounts and
    by the matching of statement money (statement_money.py).

    Both are required: a number is never kept in clear (migration 0032 drops the clear
    column)."""

    def __init__(self, *, cipher: FieldCipher, indexer: BlindIndexer) -> None:
        self._cipher = cipher
        self._indexer = indexer

    def seal(
        self, number: str, *, bank: str, merchant_id: str, owner: str
    ) -> dict[str, str | None]:
        """The columns a number is stored as, in the row of (bank, merchant, owner)."""
        return {
            "virtual_account_enc": self._cipher.encrypt(
                number, context=virtual_account_context(bank, merchant_id, owner)
            ),
            "virtual_account_hmac": self._indexer.token(
                "account_number", normalize("account_number", number)
            ),
        }

    def number(self, row: Mapping[str, Any]) -> str:
        """A row's number in clear."""
        return self._cipher.decrypt(str(row["virtual_account_enc"]), context=_context_of(row))

    def hmacs(self, number: str) -> list[str]:
        """Tokens to look a number up by, one per blind key (rotation); none for text
        that is no account number at all (nothing can match it)."""
        try:
            return self._indexer.lookup_tokens("account_number", number)
        except Rejected:
            return []

    def rehash_page(
        self, conn: Connection, after: store.SubaccountKey | None, *, limit: int
    ) -> RehashPage:
        """After a blind-key rotation: the next `limit` sealed numbers (keyset, in the
        caller's transaction) get their blind token under the active key, so matching
        finds them once the old key is retired. A row already under it is left alone; one
        that no longer decrypts is counted and named by its key in the log, never by its
        number."""
        rows = store.sealed_subaccounts_after(conn, after, limit=limit)
        prefix = f"{self._indexer.active_key_id}:"
        rehashed = unreadable = 0
        for row in rows:
            old = row["virtual_account_hmac"]
            if old is not None and str(old).startswith(prefix):
                continue
            key = (str(row["bank"]), str(row["merchant_id"]), str(row["owner"]))
            try:
                number = self.number(row)
                new = self._indexer.token("account_number", normalize("account_number", number))
            except (CipherError, Rejected):
                log.warning("virtual account of %s/%s/%s does not open; not re-hashed", *key)
                unreadable += 1
                continue
            rehashed += store.replace_virtual_account_hmac(conn, key, old=old, new=new)
        last = rows[-1] if rows else None
        return RehashPage(
            rows=len(rows),
            rehashed=rehashed,
            unreadable=unreadable,
            last=None if last is None else (last["bank"], last["merchant_id"], last["owner"]),
        )

    def find(self, conn: Connection, *, bank: str, number: str) -> dict[str, Any] | None:
        row = store.subaccount_by_virtual_account(conn, bank=bank, hmacs=self.hmacs(number))
        return dict(row) if row else None


@dataclass(frozen=True, slots=True)
class RehashPage:
    """One page of `VirtualAccounts.rehash_page`."""

    rows: int
    rehashed: int
    unreadable: int
    last: store.SubaccountKey | None
    """The page's last row (the next page starts after it); None for an empty page."""


def _context_of(row: Mapping[str, Any]) -> str:
    return virtual_account_context(str(row["bank"]), str(row["merchant_id"]), str(row["owner"]))


class SubAccounts:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        numbers: VirtualAccounts,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self.numbers = numbers
        self._banks_ready: set[str] = set()

    def open(
        self,
        merchant_id: str,
        bank: CustodyBank,
        *,
        owner: str,
        role: Role,
        virtual_account: str | None = None,
    ) -> SubAccount:
        """Open (or find) an owner's sub-account; again with the same terms is a no-op."""
        check_owner(owner)
        if virtual_account is not None:
            check_virtual_account(virtual_account)
        row = self.ensure(merchant_id, bank, owner=owner, role=role, number=virtual_account)
        if row["role"] != role.value:
            raise Rejected("subaccount_exists_with_different_role", f"{owner} is {row['role']}")
        if virtual_account is not None and self.numbers.number(row) != virtual_account:
            raise Rejected(
                "subaccount_exists_with_different_virtual_account", f"{owner} has another one"
            )
        return self._view(row)

    def ensure(
        self,
        merchant_id: str,
        bank: CustodyBank,
        *,
        owner: str,
        role: Role,
        number: str | None = None,
    ) -> dict[str, Any]:
        """The owner's row, opened with `role` when missing (an existing one is kept as is)."""
        row = self._row(bank, merchant_id, owner)
        if row is not None:
            return row
        self._ensure_accounts(bank, merchant_id, owner)
        account_id = subaccount_id(bank, merchant_id, owner)
        chosen = number or virtual_account_number(bank, merchant_id, owner)
        values = {
            "bank": bank.name,
            "merchant_id": merchant_id,
            "owner": owner,
            "role": role.value,
            "account_id": account_id,
            "currency": bank.currency,
            "created_at": self._clock.now(),
            **self.numbers.seal(chosen, bank=bank.name, merchant_id=merchant_id, owner=owner),
        }
        try:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                # Looked up first: the hash is unique per blind key only, and a number
                # kept under an older key is found by its look-up, not by the constraint.
                if self.numbers.find(conn, bank=bank.name, number=chosen) is None:
                    store.insert_subaccount(conn, values)
                    return values
        except IntegrityError:
            pass  # the same owner was opened meanwhile (found below), or the number is taken
        row = self._row(bank, merchant_id, owner)
        if row is None:
            masked = mask_account_number(chosen)
            raise Rejected("virtual_account_exists", f"{masked} is taken at {bank.name}")
        return row

    def get(self, merchant_id: str, bank: CustodyBank, *, owner: str) -> SubAccount:
        row = self._row(bank, merchant_id, owner)
        if row is None:
            raise Rejected("subaccount_not_found", f"{owner} has no sub-account at {bank.name}")
        return self._view(row)

    def of_bank(self, merchant_id: str | None, bank: CustodyBank) -> list[SubAccount]:
        with self._engine.connect() as conn:
            rows = store.list_subaccounts(
                conn, bank=bank.name, merchant_id=merchant_id, limit=LIST_MAX
            )
        return [self._view(r) for r in rows]

    def _row(self, bank: CustodyBank, merchant_id: str, owner: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = store.get_subaccount(conn, bank=bank.name, merchant_id=merchant_id, owner=owner)
        return dict(row) if row else None

    def _view(self, row: dict[str, Any]) -> SubAccount:
        account = self._ledger.get_account(row["account_id"])
        return SubAccount(
            bank=row["bank"],
            merchant_id=row["merchant_id"],
            owner=row["owner"],
            role=Role(row["role"]),
            virtual_account=self.numbers.number(row),
            account_id=row["account_id"],
            currency=row["currency"],
            balance=account.credits_posted - account.debits_posted if account else 0,
            available=account.available if account else 0,
        )

    def _ensure_accounts(self, bank: CustodyBank, merchant_id: str, owner: str) -> None:
        requests = [
            AccountRequest(
                id=subaccount_id(bank, merchant_id, owner),
                currency=bank.currency,
                code=CODE_SUBACCOUNT,
                owner_id=ledger_owner(merchant_id, owner),
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                metadata={"bank": bank.name, "merchant_id": merchant_id, "owner": owner},
            )
        ]
        if bank.name not in self._banks_ready:
            requests += [
                AccountRequest(
                    id=pool_account(bank),
                    currency=bank.currency,
                    code=CODE_POOL,
                    flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
                    metadata={"bank": bank.name},
                ),
                AccountRequest(
                    id=funding_account(bank),
                    currency=bank.currency,
                    code=CODE_FUNDING,
                    metadata={"bank": bank.name},
                ),
            ]
        self._ledger.create_accounts(requests)
        self._banks_ready.add(bank.name)
