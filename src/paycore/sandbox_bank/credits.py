"""Credit transfers received: money a third party sends into one of the merchant's
accounts at the bank (a custody virtual account, say) with no request of the merchant's
behind it. The merchant learns of it only from the statement, which names the account
credited and who paid (the account holder's own bank tells it that much).

A real bank receives these from the clearing system; the sandbox takes them from its
unsigned admin API (`POST /admin/credits`), for tests and demos.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paycore.errors import Rejected
from paycore.sandbox_bank import request_fields as fields
from paycore.sandbox_bank.model import INVALID_REQUEST, NAME_LENGTH_MAX

ACCOUNT_LENGTH_MAX = 34  # an IBAN's longest


@dataclass(frozen=True, slots=True)
class Credit:
    bank_txn_no: str
    merchant_id: str
    account: str  # the merchant's account credited (a virtual account number)
    amount_minor: int
    currency: str
    payer_account: str
    payer_name: str
    booked_at: datetime

    def view(self) -> dict[str, Any]:
        return {
            "bank_txn_no": self.bank_txn_no,
            "merchant_id": self.merchant_id,
            "account": self.account,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "payer_account": self.payer_account,
            "payer_name": self.payer_name,
            "booked_at": self.booked_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CreditRequest:
    account: str
    amount_minor: int
    currency: str
    payer_account: str
    payer_name: str


def credit_request_of(data: Mapping[str, Any]) -> CreditRequest:
    """`{"account", "amount_minor", "currency", "payer": {"account_number", "name"}}`."""
    account = _account(data.get("account"), "account")
    amount, currency = fields.money_of(data)
    payer = fields.object_of(data, "payer")
    name = payer.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_LENGTH_MAX:
        raise Rejected(
            INVALID_REQUEST, f"payer.name is required, at most {NAME_LENGTH_MAX} characters"
        )
    payer_account = _account(payer.get("account_number"), "payer.account_number")
    return CreditRequest(account, amount, currency, payer_account, name)


def _account(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isalnum():
        raise Rejected(INVALID_REQUEST, f"{name} must be letters and digits")
    if not 4 <= len(value) <= ACCOUNT_LENGTH_MAX:
        raise Rejected(INVALID_REQUEST, f"{name} must be 4 to {ACCOUNT_LENGTH_MAX} characters")
    return value
