"""Party wallets: the ledger accounts of a merchant's own users. Pure.

A merchant's users (tenants, landlords, split receivers, reward recipients, custody
owners) each get a wallet per currency, named by the merchant's own reference for them.
Money owed *by* a user (a split clawed back when its wallet was short) is kept apart in a
receivable account, so a wallet never goes negative unless it was opened to allow it.

Chart of accounts (ledger `code`):
  2002 user wallet          what we owe a merchant's user (never below zero by default)
  1301 user receivable      what a user owes (debit-normal, never repaid beyond the debt)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from paycore.errors import Rejected
from paycore.security.masking import holds_personal_number

CODE_USER_WALLET = 2002
CODE_USER_RECEIVABLE = 1301

REASON_TOP_UP = 20
REASON_DEBT_REPAYMENT = 21

OWNER_MAX = 32
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$"
"""Shown in the API document; `check_owner` is the rule."""
_OWNER = re.compile(OWNER_PATTERN)


def check_owner(owner: str) -> None:
    if not _OWNER.fullmatch(owner):
        raise Rejected("invalid_owner", f"owner is 1-{OWNER_MAX} letters, digits, '_', '.' or '-'")
    # An owner names accounts, statements and bills and is shown as sent: it cannot be
    # masked, so one holding a person's card, ID or mobile number is refused.
    if holds_personal_number(owner):
        raise Rejected(
            "identifier_has_personal_data",
            "owner holds a card, ID or mobile number; use your own reference for the user",
        )


def ledger_owner(merchant_id: str, owner: str) -> str:
    """The ledger's owner_id of a user: scoped by merchant, so two merchants' "u1" differ."""
    return f"{merchant_id}:{owner}"


def _digest(kind: str, merchant_id: str, owner: str, currency: str) -> str:
    # Hashed, not spelled out: merchant id + owner + currency would not fit the 64-character id.
    raw = f"{kind}|{merchant_id}|{owner}|{currency}".encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def wallet_account(merchant_id: str, owner: str, currency: str) -> str:
    return f"acct_uw_{_digest('wallet', merchant_id, owner, currency)}"


def receivable_account(merchant_id: str, owner: str, currency: str) -> str:
    return f"acct_ur_{_digest('receivable', merchant_id, owner, currency)}"


@dataclass(frozen=True, slots=True)
class Wallet:
    merchant_id: str
    owner: str
    currency: str
    account_id: str
    balance: int  # posted
    held: int  # pending debits (frozen: payouts, delayed splits)
    incoming: int  # pending credits (frozen for it, not yet its own)
    available: int
    debt: int  # what the owner owes, repaid first from future income
    allow_negative: bool


def repayable(available: int, debt: int) -> int:
    """How much of a debt the wallet repays now: all it can, never more than owed."""
    return max(0, min(available, debt))
