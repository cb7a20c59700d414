"""Each refusal `Posting` can give, with its exact code, called directly (no database).

test_result_codes.py walks the same codes through the service and the store; this table
keeps the rules' own tests fast enough to run against every mutant of posting.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from paycore.ledger.model import AccountStatus, TransferFlags, TransferRequest
from paycore.ledger.posting import Posting
from tests.ledger.posting_kit import NOW, account, ledger, one, req

F = TransferFlags


def post(
    pending_id: str | None = "h1",
    *,
    dr: str | None = None,
    cr: str | None = None,
    amount: int | None = None,
    currency: str | None = None,
) -> TransferRequest:
    """A post of `pending_id` naming nothing else unless told."""
    return req("p1", dr, cr, amount, flags=F.POST_PENDING, currency=currency, pending_id=pending_id)


def void(pending_id: str = "h1") -> TransferRequest:
    return req("v1", None, None, None, flags=F.VOID_PENDING, currency=None, pending_id=pending_id)


def with_hold(p: Posting) -> None:
    assert one(p, req("h1", flags=F.PENDING, timeout_s=60)) == "created"


def with_posted_hold(p: Posting) -> None:
    with_hold(p)
    assert one(p, req("p0", None, None, 30, flags=F.POST_PENDING, currency=None,
                      pending_id="h1")) == "created"  # fmt: skip


def with_voided_hold(p: Posting) -> None:
    with_hold(p)
    assert one(p, void()) == "created"


def with_expired_hold(p: Posting) -> None:
    with_hold(p)
    p.now = NOW + timedelta(seconds=60)
    assert p.expire_due() == ["h1"]


def with_plain_transfer(p: Posting) -> None:
    assert one(p, req("h1")) == "created"


def with_hold_and_stored(request: TransferRequest) -> Callable[[Posting], None]:
    def setup(p: Posting) -> None:
        with_hold(p)
        assert one(p, request) == "created"

    return setup


def nothing(p: Posting) -> None:
    """No setup."""


# fmt: off
CASES: list[tuple[str, Callable[[Posting], None], TransferRequest, str]] = [
    ("empty id", nothing, req(""), "id_must_not_be_empty"),
    ("post without pending id", nothing, post(None), "pending_id_must_be_set"),
    ("plain with pending id", with_hold, req(pending_id="h1"), "pending_id_must_not_be_set"),
    ("post of itself", nothing, post("p1"), "pending_id_must_be_different"),
    ("timeout on a plain transfer", nothing, req(timeout_s=60),
     "timeout_reserved_for_pending_transfer"),
    ("zero amount", nothing, req(amount=0), "amount_must_be_positive"),
    ("no amount", nothing, req(amount=None), "amount_must_be_positive"),
    ("amount past the maximum", nothing, req(amount=2**63), "amount_must_not_exceed_max"),
    ("unknown currency", nothing, req(currency="ZZZ"), "unknown_currency"),
    ("no currency", nothing, req(currency=None), "unknown_currency"),
    ("frozen credit account", nothing, req("t1", "A", "FROZEN"), "account_frozen"),
    ("frozen debit account", nothing, req("t1", "FROZEN", "B"), "account_frozen"),
    ("post of a plain transfer", with_plain_transfer, post(), "pending_transfer_not_pending"),
    ("post of a posted hold", with_posted_hold, post(), "pending_transfer_already_posted"),
    ("post of a voided hold", with_voided_hold, post(), "pending_transfer_already_voided"),
    ("void of an expired hold", with_expired_hold, void(), "pending_transfer_expired"),
    ("post from another account", with_hold, post(dr="C"),
     "pending_transfer_has_different_debit_account_id"),
    ("post to another account", with_hold, post(cr="C"),
     "pending_transfer_has_different_credit_account_id"),
    ("post in another currency", with_hold, post(currency="USD"),
     "pending_transfer_has_different_currency"),
    ("replayed post of another hold",
     with_hold_and_stored(post()),
     post("h2"), "exists_with_different_pending_id"),
    ("replayed hold with another timeout", with_hold,
     req("h1", flags=F.PENDING, timeout_s=61), "exists_with_different_timeout_s"),
]
# fmt: on


@pytest.mark.parametrize(("setup", "request_", "code"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_each_refusal_has_its_code_and_changes_nothing(
    setup: Callable[[Posting], None], request_: TransferRequest, code: str
) -> None:
    p = ledger(account("C"), account("FROZEN", status=AccountStatus.FROZEN))
    setup(p)
    transfers = set(p.transfers)
    balances = {a.id: a.balances() for a in p.accounts.values()}

    assert one(p, request_) == code
    assert set(p.transfers) == transfers
    assert {a.id: a.balances() for a in p.accounts.values()} == balances


def test_a_post_naming_the_holds_own_accounts_and_currency_is_accepted() -> None:
    p = ledger()
    with_hold(p)

    assert one(p, post(dr="A", cr="B", currency="CNY", amount=100)) == "created"
