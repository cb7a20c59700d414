"""Owners' sub-accounts at a custody bank: a ledger account each, mapped to the bank's
virtual account number. Opening one also opens the bank's pool and funding accounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
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
from paycore.wallets.model import check_owner, ledger_owner

LIST_MAX = 500


class SubAccounts:
    def __init__(self, *, engine: Engine, ledger: Ledger, clock: Clock) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
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
        if virtual_account is not None and row["virtual_account"] != virtual_account:
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
        values = {
            "bank": bank.name,
            "merchant_id": merchant_id,
            "owner": owner,
            "role": role.value,
            "virtual_account": number or virtual_account_number(bank, merchant_id, owner),
            "account_id": subaccount_id(bank, merchant_id, owner),
            "currency": bank.currency,
            "created_at": self._clock.now(),
        }
        try:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.insert_subaccount(conn, values)
        except IntegrityError:
            # Either the same owner was opened meanwhile (found below) or the number is taken.
            row = self._row(bank, merchant_id, owner)
            if row is None:
                taken = values["virtual_account"]
                raise Rejected(
                    "virtual_account_exists", f"{taken} is taken at {bank.name}"
                ) from None
            return row
        return values

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
            virtual_account=row["virtual_account"],
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
