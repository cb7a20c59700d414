"""Accounts, postings and transfer requests in memory, for the posting rule tests and the
result-code tests: one builder each, so a field added to TransferRequest is added once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from paycore import limits
from paycore.ledger.model import (
    AccountFlags,
    AccountState,
    AccountStatus,
    TransferFlags,
    TransferRequest,
)
from paycore.ledger.posting import Posting

F = TransferFlags
MAX = limits.AMOUNT_MAX
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DR_LIMIT = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS.value
CR_LIMIT = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS.value


def account(
    id: str,
    flags: int = 0,
    *,
    dp: int = 0,
    dpo: int = 0,
    cp: int = 0,
    cpo: int = 0,
    currency: str = "CNY",
    status: AccountStatus = AccountStatus.ACTIVE,
) -> AccountState:
    return AccountState(
        id=id,
        currency=currency,
        flags=flags,
        status=status,
        debits_pending=dp,
        debits_posted=dpo,
        credits_pending=cp,
        credits_posted=cpo,
    )


def ledger(*accounts: AccountState) -> Posting:
    """A posting over `accounts`, plus plain A and B unless given."""
    by_id = {a.id: a for a in (account("A"), account("B"))}
    by_id.update({a.id: a for a in accounts})
    return Posting(accounts=by_id, transfers={}, failed={}, now=NOW)


def req(
    id: str = "t1",
    dr: str | None = "A",
    cr: str | None = "B",
    amount: int | None = 100,
    *,
    flags: int = 0,
    currency: str | None = "CNY",
    pending_id: str | None = None,
    timeout_s: int = 0,
    code: int = 0,
    metadata: Mapping[str, object] | None = None,
) -> TransferRequest:
    return TransferRequest(
        id=id,
        debit_account_id=dr,
        credit_account_id=cr,
        amount=amount,
        currency=currency,
        flags=flags,
        pending_id=pending_id,
        timeout_s=timeout_s,
        code=code,
        metadata=metadata,
    )


def one(posting: Posting, request: TransferRequest) -> str:
    [result] = posting.apply([request])
    return result
