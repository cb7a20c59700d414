"""Pure ledger vocabulary: accounts, transfers, entries, flags and every result code.

Nothing here touches a database; `posting.py` applies transfers with these rules.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from paycore import limits


class AccountFlags(enum.IntFlag):
    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


class TransferFlags(enum.IntFlag):
    NONE = 0
    LINKED = 1
    PENDING = 2
    POST_PENDING = 4
    VOID_PENDING = 8
    BALANCING_DEBIT = 16
    BALANCING_CREDIT = 32


def flag_names(kind: type[enum.IntFlag], flags: int) -> list[str]:
    return [f.name.lower() for f in kind if f.value and f.value & flags and f.name]


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class AccountOrigin(enum.StrEnum):
    """Who opened an account, and so who may move its money.

    `flow`: one of paycore's flows (payments, split, custody, collection, rewards, wallets,
    recon) through the ledger service; that account, and every transfer touching it, belongs
    to the flows and no API key moves it. `api`: a caller of the ledger's own API (HTTP, or
    `paycore accounts create`). A service call is a flow unless it says otherwise, so a new
    flow's accounts are protected without it knowing about this.
    """

    FLOW = "flow"
    API = "api"


class TransferStatus(enum.StrEnum):
    POSTED = "posted"  # single-phase transfers and post_pending transfers
    PENDING = "pending"  # a hold, waiting for post, void or expiry
    POSTED_PENDING = "pending_posted"  # a hold that was posted (fully or partly)
    VOIDED_PENDING = "pending_voided"  # a hold that was voided
    EXPIRED_PENDING = "pending_expired"  # a hold whose timeout ran out
    VOIDED = "voided"  # a void_pending transfer


RESULTS: tuple[str, ...] = (
    "created",
    "linked_event_failed",
    "linked_event_chain_open",
    "id_must_not_be_empty",
    "id_too_long",
    "flags_are_mutually_exclusive",
    "pending_id_must_be_set",
    "pending_id_must_not_be_set",
    "pending_id_must_be_different",
    "timeout_reserved_for_pending_transfer",
    "amount_must_be_positive",
    "amount_must_not_exceed_max",
    "code_must_not_exceed_max",
    "unknown_currency",
    "exists_with_different_flags",
    "exists_with_different_pending_id",
    "exists_with_different_timeout_s",
    "exists_with_different_debit_account_id",
    "exists_with_different_credit_account_id",
    "exists_with_different_amount",
    "exists_with_different_currency",
    "exists_with_different_code",
    "exists_with_different_metadata",
    "exists",
    "id_already_failed",
    "accounts_must_be_different",
    "pending_transfer_not_found",
    "pending_transfer_not_pending",
    "pending_transfer_has_different_debit_account_id",
    "pending_transfer_has_different_credit_account_id",
    "pending_transfer_has_different_currency",
    "pending_transfer_has_different_amount",
    "pending_transfer_already_posted",
    "pending_transfer_already_voided",
    "pending_transfer_expired",
    "exceeds_pending_transfer_amount",
    "debit_account_not_found",
    "credit_account_not_found",
    "currency_mismatch",
    "account_frozen",
    "account_closed",
    "overflows_timeout",
    "overflows_debits_pending",
    "overflows_credits_pending",
    "overflows_debits_posted",
    "overflows_credits_posted",
    "overflows_debits",
    "overflows_credits",
    "exceeds_credits",
    "exceeds_debits",
)
"""Every transfer result, in order of precedence: the first rule a transfer breaks wins."""

_FIRST_TRANSIENT = RESULTS.index("accounts_must_be_different")
TRANSIENT_RESULTS = frozenset(RESULTS[_FIRST_TRANSIENT + 1 :])
"""Results that depend on the ledger's state. A transfer id that failed with one of
these is remembered, so a retry returns `id_already_failed` instead of succeeding
later under changed circumstances (TigerBeetle's rule)."""


@dataclass(slots=True, kw_only=True)
class AccountState:
    """What posting reads and changes: the rules of an account and its four balances."""

    id: str
    currency: str
    flags: int  # AccountFlags bits, kept as a plain int: enum arithmetic is slow on the hot path
    status: AccountStatus
    owner_id: str | None = None
    origin: AccountOrigin = AccountOrigin.FLOW
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def available(self) -> int:
        """What can still leave the account: credit-normal unless the account is debit-normal."""
        if self.flags & CREDITS_LIMITED:
            return self.debits_posted - self.credits_posted - self.credits_pending
        return self.credits_posted - self.debits_posted - self.debits_pending

    def balances(self) -> tuple[int, int, int, int]:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


@dataclass(slots=True, kw_only=True)
class Account(AccountState):
    """An account as its owner sees it: its state plus what describes it."""

    code: int
    metadata: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TransferRequest:
    id: str
    debit_account_id: str | None = None
    credit_account_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    flags: int = 0  # TransferFlags bits
    pending_id: str | None = None
    timeout_s: int = 0
    code: int = 0
    metadata: Mapping[str, Any] | None = None
    bank_confirmed: bool = False
    """Flows only: money a bank confirmed arriving (a pay-in paid, a payout sent back). Its
    credit account may be frozen (the money lands there and stays frozen) when the debit
    is a system account that is not; see `takes_bank_confirmed`. No API caller sets it."""


def takes_bank_confirmed(t: TransferRequest, debit: AccountState) -> bool:
    """Whether `t` may credit a frozen account: a plain (not pending, not balancing)
    transfer a flow marked `bank_confirmed`, out of a system account (a flow's, with no
    owner: the channel's clearing). A freeze stops an owner spending, not the bank paying."""
    plain = not t.flags & (
        TransferFlags.PENDING | TransferFlags.BALANCING_DEBIT | TransferFlags.BALANCING_CREDIT
    )
    system = debit.origin is AccountOrigin.FLOW and debit.owner_id is None
    return t.bank_confirmed and plain and system


@dataclass(slots=True)
class Transfer:
    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    flags: int  # TransferFlags bits
    pending_id: str | None
    timeout_s: int
    code: int
    metadata: Mapping[str, Any]
    created_at: datetime
    expires_at: datetime | None
    status: TransferStatus


class Entry(NamedTuple):
    """One account's side of one event, with the account's balances right after it.
    A named tuple: immutable like the journal, and cheap to make by the thousand."""

    account_id: str
    transfer_id: str
    event: str  # created | pending | posted | voided | expired
    side: str  # debit | credit
    amount: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TransferResult:
    id: str
    result: str


# Plain ints: enum arithmetic is slow on the per-transfer path.
DEBITS_LIMITED = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS.value
CREDITS_LIMITED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS.value


def metadata_too_large(metadata: Mapping[str, Any]) -> bool:
    """Metadata is bounded by its size as compact UTF-8 JSON, the way it is stored."""
    encoded = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()
    return len(encoded) > limits.METADATA_BYTES_MAX


def check_account_flags(flags: int) -> str | None:
    both = DEBITS_LIMITED | CREDITS_LIMITED
    return "flags_are_mutually_exclusive" if flags & both == both else None


# -- who may use which account through the ledger's API ----------------------------------------

FLOW_ACCOUNT_PREFIXES = (
    "acct_mw_", "acct_clr_", "acct_fee_", "acct_transit_",  # payments
    "acct_splitcom_",  # split
    "acct_uw_", "acct_ur_",  # wallets
    "acct_rb_",  # rewards
    "acct_cus_", "acct_cs_",  # custody
    "acct_suspense_",  # recon
)  # fmt: skip
FLOW_TRANSFER_PREFIXES = (
    "tr_pay_", "tr_po_", "tr_rf_",  # payments: tr_<order id>_...
    "tr_spl_",  # split: tr_<split id>_...
    "tr_col_",  # collection
    "tr_top_", "tr_rpy_",  # wallets
    "tr_rbf_", "tr_rbw_", "tr_rw_",  # rewards
    "tr_cus_",  # custody
    "tr_adj_", "tr_susp_",  # recon
)  # fmt: skip
"""Id namespaces of the flows' accounts and transfers. No API caller opens an account or
creates a transfer under them: it could otherwise take an id a flow will need (the flow's
account would then exist with another owner, its transfer with other fields, or as a
remembered failure) or probe which flow ids exist. A test holds every flow's ids to them."""

_RESERVED = FLOW_ACCOUNT_PREFIXES + FLOW_TRANSFER_PREFIXES


def is_reserved_id(object_id: str) -> bool:
    return object_id.startswith(_RESERVED)


@dataclass(frozen=True, slots=True)
class Caller:
    """Someone using the ledger's API rather than a flow: an API key's holder.

    It reaches only accounts opened through the API, and a merchant only its own; every
    other account, and every hold between accounts it cannot reach, is to it exactly what
    a missing one is (same result, same problem), so it learns nothing of them.
    """

    merchant_id: str | None
    """None: a platform key."""

    def reaches(self, account: AccountState) -> bool:
        return account.origin is AccountOrigin.API and self.sees(account.owner_id)

    def sees(self, owner_id: str | None) -> bool:
        return self.merchant_id is None or owner_id == self.merchant_id


def status_change_refusal(
    caller: Caller, account: AccountState, status: AccountStatus
) -> tuple[str, str] | None:
    """(code, detail) why `caller` may not set `status` on an account it sees, or None.

    Freezing and unfreezing are the platform's decisions: a merchant may freeze or close
    its own API accounts, never make one active again. A flow's account is the flow's: no
    key touches a system account (no owner: clearing, fees, transit, suspense, custody
    pools, commissions); of a merchant's flow accounts (its wallet, its users' wallets,
    reward budgets, custody sub-accounts) a platform key may freeze and unfreeze, never close.
    """
    merchant = caller.merchant_id is not None
    if account.origin is AccountOrigin.FLOW:
        if merchant or account.owner_id is None or status is AccountStatus.CLOSED:
            return "account_owned_by_flow", "this account belongs to a paycore flow"
        return None
    if merchant and status is AccountStatus.ACTIVE:
        return "unfreeze_needs_platform_key", "only the platform makes an account active again"
    return None
