"""Accounts (creation, idempotency, status) and history (entries, balance_at, check)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update

from paycore import limits
from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.ledger import store
from paycore.ledger.model import (
    AccountFlags,
    AccountStatus,
    Entry,
    TransferFlags,
    TransferRequest,
)
from paycore.ledger.service import AccountRequest, Ledger

Balances = tuple[
    int, int, int, int
]  # debits_pending, debits_posted, credits_pending, credits_posted


def pay(
    id: str,
    dr: str | None,
    cr: str | None,
    amount: int | None = 100,
    *,
    currency: str | None = "CNY",
    flags: TransferFlags = TransferFlags.NONE,
    pending_id: str | None = None,
    timeout_s: int = 0,
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
    )


def hold(id: str, dr: str, cr: str, amount: int, *, timeout_s: int = 0) -> TransferRequest:
    return pay(id, dr, cr, amount, flags=TransferFlags.PENDING, timeout_s=timeout_s)


def resolve(
    id: str, pending_id: str, flag: TransferFlags, amount: int | None = None
) -> TransferRequest:
    return pay(id, None, None, amount, currency=None, flags=flag, pending_id=pending_id)


def created(ledger: Ledger, *batch: TransferRequest) -> None:
    assert [r.result for r in ledger.create_transfers(batch)] == ["created"] * len(batch)


def open_accounts(ledger: Ledger, *ids: str, currency: str = "CNY") -> None:
    for account_id in ids:
        ledger.create_account(AccountRequest(currency=currency, id=account_id))


def balances(ledger: Ledger, account_id: str) -> Balances:
    account = ledger.get_account(account_id)
    assert account is not None
    return account.balances()


# -- creating accounts ------------------------------------------------------------------


def test_an_account_without_an_id_gets_a_generated_acct_id(ledger: Ledger) -> None:
    first, first_created = ledger.create_account(AccountRequest(currency="CNY"))
    second, second_created = ledger.create_account(AccountRequest(currency="CNY"))
    assert first_created and second_created
    for account in (first, second):
        assert account.id.startswith("acct_")
        assert len(account.id) == len("acct_") + 26
        assert ledger.get_account(account.id) == account
    assert first.id != second.id


def test_a_new_account_starts_active_with_zero_balances_and_its_fields(
    ledger: Ledger, clock: ManualClock
) -> None:
    request = AccountRequest(
        currency="USD",
        id="acct_x",
        code=1200,
        owner_id="merchant_1",
        flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        metadata={"name": "float", "n": 1},
    )
    account, was_created = ledger.create_account(request)
    assert was_created
    stored = ledger.get_account("acct_x")
    assert stored == account
    assert (stored.currency, stored.code, stored.owner_id, stored.flags) == (
        "USD",
        1200,
        "merchant_1",
        AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    )
    assert dict(stored.metadata) == {"name": "float", "n": 1}
    assert stored.status == AccountStatus.ACTIVE
    assert stored.balances() == (0, 0, 0, 0)
    assert stored.created_at == clock.now()


def test_creating_the_same_account_again_returns_the_stored_one_unchanged(
    ledger: Ledger, clock: ManualClock
) -> None:
    request = AccountRequest(currency="CNY", id="acct_x", code=3, owner_id="o", metadata={"k": 1})
    first, first_created = ledger.create_account(request)
    open_accounts(ledger, "acct_y")
    created(ledger, pay("t1", "acct_x", "acct_y"))
    clock.advance(3600)
    again, again_created = ledger.create_account(request)
    assert (first_created, again_created) == (True, False)
    assert again.created_at == first.created_at
    assert again.balances() == (0, 100, 0, 0)  # the stored account, not a fresh copy


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"currency": "USD"}, "exists_with_different_currency"),
        ({"code": 4}, "exists_with_different_code"),
        ({"owner_id": "someone_else"}, "exists_with_different_owner_id"),
        ({"owner_id": None}, "exists_with_different_owner_id"),
        ({"flags": AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS}, "exists_with_different_flags"),
        ({"metadata": {"k": 2}}, "exists_with_different_metadata"),
        ({"metadata": {}}, "exists_with_different_metadata"),
    ],
)
def test_creating_an_existing_id_with_other_fields_is_rejected_with_the_field_named(
    ledger: Ledger, changes: dict[str, Any], code: str
) -> None:
    fields: dict[str, Any] = {
        "currency": "CNY",
        "id": "acct_x",
        "code": 3,
        "owner_id": "o",
        "flags": AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        "metadata": {"k": 1},
    }
    original, _ = ledger.create_account(AccountRequest(**fields))
    with pytest.raises(Rejected) as caught:
        ledger.create_account(AccountRequest(**(fields | changes)))
    assert caught.value.code == code
    assert ledger.get_account("acct_x") == original


def test_an_account_cannot_limit_both_debits_and_credits(ledger: Ledger) -> None:
    both = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    with pytest.raises(Rejected) as caught:
        ledger.create_account(AccountRequest(currency="CNY", id="acct_x", flags=both))
    assert caught.value.code == "flags_are_mutually_exclusive"
    assert ledger.get_account("acct_x") is None


@pytest.mark.parametrize("currency", ["ZZZ", "CN", "CNYY", ""])
def test_an_account_in_an_unknown_currency_is_rejected(ledger: Ledger, currency: str) -> None:
    with pytest.raises(Rejected) as caught:
        ledger.create_account(AccountRequest(currency=currency, id="acct_x"))
    assert caught.value.code == "unknown_currency"
    assert ledger.get_account("acct_x") is None


@pytest.mark.parametrize(
    ("request_fields", "code"),
    [
        ({"id": ""}, "id_invalid"),
        ({"id": "a" * (limits.ID_LENGTH_MAX + 1)}, "id_invalid"),
        ({"code": limits.CODE_MAX + 1}, "code_must_not_exceed_max"),
        ({"code": -1}, "code_must_not_exceed_max"),
    ],
)
def test_an_account_with_an_out_of_range_id_or_code_is_rejected(
    ledger: Ledger, request_fields: dict[str, Any], code: str
) -> None:
    with pytest.raises(Rejected) as caught:
        ledger.create_account(AccountRequest(currency="CNY", **request_fields))
    assert caught.value.code == code


def test_an_id_of_the_maximum_length_and_the_maximum_code_are_accepted(ledger: Ledger) -> None:
    account_id = "a" * limits.ID_LENGTH_MAX
    _, was_created = ledger.create_account(
        AccountRequest(currency="CNY", id=account_id, code=limits.CODE_MAX)
    )
    assert was_created
    assert ledger.get_account(account_id).code == limits.CODE_MAX  # type: ignore[union-attr]


def _metadata_of_size(size: int) -> dict[str, str]:
    """Metadata whose compact JSON (`{"k":"xxx"}`) is exactly `size` bytes."""
    return {"k": "x" * (size - len('{"k":""}'))}


def test_account_metadata_of_4096_bytes_is_accepted(ledger: Ledger) -> None:
    metadata = _metadata_of_size(limits.METADATA_BYTES_MAX)
    _, was_created = ledger.create_account(
        AccountRequest(currency="CNY", id="acct_x", metadata=metadata)
    )
    assert was_created
    assert dict(ledger.get_account("acct_x").metadata) == metadata  # type: ignore[union-attr]


def test_account_metadata_over_4096_bytes_is_rejected(ledger: Ledger) -> None:
    with pytest.raises(Rejected) as caught:
        ledger.create_account(
            AccountRequest(
                currency="CNY",
                id="acct_x",
                metadata=_metadata_of_size(limits.METADATA_BYTES_MAX + 1),
            )
        )
    assert caught.value.code == "metadata_too_large"
    assert ledger.get_account("acct_x") is None


def test_transfer_metadata_over_4096_bytes_is_rejected_before_anything_is_applied(
    ledger: Ledger,
) -> None:
    open_accounts(ledger, "A", "B")
    big = TransferRequest(
        id="t2",
        debit_account_id="A",
        credit_account_id="B",
        amount=5,
        currency="CNY",
        metadata=_metadata_of_size(limits.METADATA_BYTES_MAX + 1),
    )
    with pytest.raises(Rejected) as caught:
        ledger.create_transfers([pay("t1", "A", "B"), big])
    assert caught.value.code == "metadata_too_large"
    assert ledger.get_transfer("t1") is None
    assert balances(ledger, "A") == (0, 0, 0, 0)


# -- account status ---------------------------------------------------------------------


def test_a_frozen_account_can_be_made_active_again(ledger: Ledger) -> None:
    open_accounts(ledger, "A", "B")
    assert ledger.set_account_status("A", AccountStatus.FROZEN).status == AccountStatus.FROZEN
    assert ledger.get_account("A").status == AccountStatus.FROZEN  # type: ignore[union-attr]
    assert ledger.set_account_status("A", AccountStatus.ACTIVE).status == AccountStatus.ACTIVE
    created(ledger, pay("t1", "A", "B"))


@pytest.mark.parametrize("side", ["A", "B"])
def test_an_account_with_a_hold_on_either_side_cannot_be_closed(ledger: Ledger, side: str) -> None:
    open_accounts(ledger, "A", "B")
    created(ledger, hold("h1", "A", "B", 100))
    with pytest.raises(Rejected) as caught:
        ledger.set_account_status(side, AccountStatus.CLOSED)
    assert caught.value.code == "account_has_pending_transfers"
    assert ledger.get_account(side).status == AccountStatus.ACTIVE  # type: ignore[union-attr]
    created(ledger, resolve("v1", "h1", TransferFlags.VOID_PENDING))
    assert ledger.set_account_status(side, AccountStatus.CLOSED).status == AccountStatus.CLOSED
    assert ledger.get_account(side).status == AccountStatus.CLOSED  # type: ignore[union-attr]


def test_an_account_whose_only_hold_has_expired_can_be_closed(
    ledger: Ledger, clock: ManualClock
) -> None:
    open_accounts(ledger, "A", "B")
    created(ledger, hold("h1", "A", "B", 100, timeout_s=60))
    clock.advance(61)
    assert ledger.set_account_status("A", AccountStatus.CLOSED).status == AccountStatus.CLOSED
    assert balances(ledger, "A") == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "status", [AccountStatus.ACTIVE, AccountStatus.FROZEN, AccountStatus.CLOSED]
)
def test_a_closed_account_stays_closed(ledger: Ledger, status: AccountStatus) -> None:
    open_accounts(ledger, "A")
    ledger.set_account_status("A", AccountStatus.CLOSED)
    with pytest.raises(Rejected) as caught:
        ledger.set_account_status("A", status)
    assert caught.value.code == "account_closed"
    assert ledger.get_account("A").status == AccountStatus.CLOSED  # type: ignore[union-attr]


def test_changing_the_status_of_an_unknown_account_is_rejected(ledger: Ledger) -> None:
    with pytest.raises(Rejected) as caught:
        ledger.set_account_status("nope", AccountStatus.FROZEN)
    assert caught.value.code == "account_not_found"


# -- history ------------------------------------------------------------------------------

Row = tuple[str, str, str, int, Balances]  # transfer_id, event, side, amount, balances after


def row(entry: Entry) -> Row:
    balances_after = (
        entry.debits_pending,
        entry.debits_posted,
        entry.credits_pending,
        entry.credits_posted,
    )
    return (entry.transfer_id, entry.event, entry.side, entry.amount, balances_after)


def make_history(ledger: Ledger, clock: ManualClock) -> list[datetime]:
    """Seven events on account B, ten seconds apart; returns the instant of each."""
    open_accounts(ledger, "A", "B", "C")
    at = [clock.now()]
    created(ledger, pay("t1", "A", "B", 100))
    at.append(clock.advance(10))
    created(ledger, hold("h1", "A", "B", 30))
    at.append(clock.advance(10))
    created(ledger, resolve("p1", "h1", TransferFlags.POST_PENDING, 20))
    at.append(clock.advance(10))
    created(ledger, pay("t2", "B", "C", 50))
    at.append(clock.advance(10))
    created(ledger, hold("h2", "A", "B", 40, timeout_s=5))
    at.append(clock.advance(10))
    assert balances(ledger, "B") == (0, 50, 0, 120)  # the read expires h2
    at.append(clock.advance(10))
    created(ledger, hold("h3", "C", "B", 7), resolve("v3", "h3", TransferFlags.VOID_PENDING))
    return at


HISTORY_OF_B: list[Row] = [
    ("t1", "posted", "credit", 100, (0, 0, 0, 100)),
    ("h1", "pending", "credit", 30, (0, 0, 30, 100)),
    ("p1", "posted", "credit", 20, (0, 0, 0, 120)),
    ("t2", "posted", "debit", 50, (0, 50, 0, 120)),
    ("h2", "pending", "credit", 40, (0, 50, 40, 120)),
    ("h2", "expired", "credit", 40, (0, 50, 0, 120)),
    ("h3", "pending", "credit", 7, (0, 50, 7, 120)),
    ("v3", "voided", "credit", 7, (0, 50, 0, 120)),
]


def test_entries_carry_the_running_balance_after_each_event(
    ledger: Ledger, clock: ManualClock
) -> None:
    at = make_history(ledger, clock)
    page = ledger.entries("B", newest_first=False)
    assert [row(e) for e in page.entries] == HISTORY_OF_B
    assert page.next_cursor is None
    assert [e.created_at for e in page.entries] == [*at[:6], at[6], at[6]]
    assert all(e.account_id == "B" for e in page.entries)
    assert page.entries[-1].debits_posted == balances(ledger, "B")[1]


def test_entries_newest_first_is_the_reverse_of_oldest_first(
    ledger: Ledger, clock: ManualClock
) -> None:
    make_history(ledger, clock)
    newest = ledger.entries("B", newest_first=True).entries
    assert [row(e) for e in newest] == HISTORY_OF_B[::-1]
    assert ledger.entries("B").entries == newest  # newest first is the default


def collect_pages(
    ledger: Ledger, account_id: str, *, limit: int, newest_first: bool
) -> list[list[Entry]]:
    pages = []
    cursor: str | None = None
    while True:
        page = ledger.entries(account_id, limit=limit, after=cursor, newest_first=newest_first)
        pages.append(page.entries)
        assert len(page.entries) <= limit
        if page.next_cursor is None:
            return pages
        assert len(pages) <= 100, "the cursor does not advance"
        cursor = page.next_cursor


@pytest.mark.parametrize("newest_first", [True, False])
@pytest.mark.parametrize("limit", [1, 3, 4, 8, 9, limits.ENTRIES_PAGE_MAX])
def test_following_next_cursor_visits_every_entry_once_in_order(
    ledger: Ledger, clock: ManualClock, limit: int, newest_first: bool
) -> None:
    make_history(ledger, clock)
    pages = collect_pages(ledger, "B", limit=limit, newest_first=newest_first)
    visited = [row(e) for page in pages for e in page]
    assert visited == (HISTORY_OF_B[::-1] if newest_first else HISTORY_OF_B)
    full_pages = len(HISTORY_OF_B) // limit
    assert all(len(p) == limit for p in pages[:full_pages])


def test_entries_written_while_paging_newest_first_do_not_shift_the_pages(
    ledger: Ledger, clock: ManualClock
) -> None:
    make_history(ledger, clock)
    first = ledger.entries("B", limit=3)
    created(ledger, pay("t9", "A", "B", 1), pay("t10", "A", "B", 2))
    rest = collect_pages(ledger, "B", limit=3, newest_first=True)
    assert rest[0][0].transfer_id == "t10"  # fresh read sees the new ones
    assert first.next_cursor is not None
    older = ledger.entries("B", limit=1000, after=first.next_cursor)
    assert [row(e) for e in first.entries + older.entries] == HISTORY_OF_B[::-1]


def test_entries_written_while_paging_oldest_first_come_on_later_pages(
    ledger: Ledger, clock: ManualClock
) -> None:
    make_history(ledger, clock)
    first = ledger.entries("B", limit=3, newest_first=False)
    created(ledger, pay("t9", "A", "B", 1))
    assert first.next_cursor is not None
    rest = ledger.entries("B", limit=1000, after=first.next_cursor, newest_first=False)
    visited = [e.transfer_id for e in first.entries + rest.entries]
    assert visited == [r[0] for r in HISTORY_OF_B] + ["t9"]


def test_an_account_without_activity_has_an_empty_history(ledger: Ledger) -> None:
    open_accounts(ledger, "A")
    page = ledger.entries("A")
    assert (page.entries, page.next_cursor) == ([], None)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"limit": 0}, "limit_out_of_range"),
        ({"limit": limits.ENTRIES_PAGE_MAX + 1}, "limit_out_of_range"),
        ({"after": "abc"}, "cursor_invalid"),
        ({"after": "-1"}, "cursor_invalid"),
        ({"after": "1" * 20}, "cursor_invalid"),
        # str.isdigit() takes these; int() refuses the first and reads the second as 12.
        ({"after": "²"}, "cursor_invalid"),
        ({"after": "\u0661\u0662"}, "cursor_invalid"),
    ],
)
def test_entries_with_a_bad_limit_or_cursor_are_rejected(
    ledger: Ledger, kwargs: dict[str, Any], code: str
) -> None:
    open_accounts(ledger, "A")
    with pytest.raises(Rejected) as caught:
        ledger.entries("A", **kwargs)
    assert caught.value.code == code


def test_entries_of_an_unknown_account_are_rejected(ledger: Ledger) -> None:
    with pytest.raises(Rejected) as caught:
        ledger.entries("nope")
    assert caught.value.code == "account_not_found"


def test_balance_at_gives_the_balances_as_of_each_instant(
    ledger: Ledger, clock: ManualClock
) -> None:
    at = make_history(ledger, clock)
    second = timedelta(seconds=1)
    assert ledger.balance_at("B", at[0] - second) == (0, 0, 0, 0)
    expected = [
        (at[0], (0, 0, 0, 100)),
        (at[0] + 5 * second, (0, 0, 0, 100)),
        (at[1] - second, (0, 0, 0, 100)),
        (at[1], (0, 0, 30, 100)),
        (at[2], (0, 0, 0, 120)),
        (at[3], (0, 50, 0, 120)),
        (at[4], (0, 50, 40, 120)),
        (at[4] + 9 * second, (0, 50, 40, 120)),  # expired lazily, at the read of at[5]
        (at[5], (0, 50, 0, 120)),
        (at[6], (0, 50, 0, 120)),  # h3 held and voided at the same instant
        (at[6] + 1000 * second, (0, 50, 0, 120)),
    ]
    assert [(when, ledger.balance_at("B", when)) for when, _ in expected] == expected
    assert ledger.balance_at("A", at[2] - second) == (30, 100, 0, 0)
    assert ledger.balance_at("A", at[2]) == (0, 120, 0, 0)
    assert ledger.balance_at("C", at[3] - second) == (0, 0, 0, 0)
    assert ledger.balance_at("C", at[3]) == (0, 0, 0, 50)


def test_balance_at_of_an_unknown_account_is_rejected(ledger: Ledger, clock: ManualClock) -> None:
    with pytest.raises(Rejected) as caught:
        ledger.balance_at("nope", clock.now())
    assert caught.value.code == "account_not_found"


# -- self-check ----------------------------------------------------------------------------


def mixed_activity(ledger: Ledger, clock: ManualClock) -> None:
    make_history(ledger, clock)
    ledger.create_account(
        AccountRequest(currency="CNY", id="L", flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    )
    open_accounts(ledger, "U1", "U2", currency="USD")
    created(ledger, pay("u1", "U1", "U2", 999, currency="USD"), hold("f1", "A", "L", 70))
    created(ledger, resolve("f2", "f1", TransferFlags.POST_PENDING))
    created(ledger, pay("b1", "L", "C", 500, flags=TransferFlags.BALANCING_DEBIT))
    created(ledger, hold("h9", "C", "A", 11, timeout_s=30), hold("h10", "B", "C", 13))
    failed = ledger.create_transfers(
        [pay("x1", "A", "B", flags=TransferFlags.LINKED), pay("x2", "L", "B")]
    )
    assert [r.result for r in failed] == ["linked_event_failed", "exceeds_credits"]
    clock.advance(31)
    assert ledger.expire_due_holds() == 2


def test_check_passes_after_mixed_activity(ledger: Ledger, clock: ManualClock) -> None:
    mixed_activity(ledger, clock)
    report = ledger.check()
    assert report.problems == []
    assert report.ok
    assert report.accounts_checked == 6
    # Posted debits: A 100 + 20 + 70, B 50, L 70; the one live hold is B's 13 for C.
    assert report.totals == {"CNY": (13, 310, 13, 310), "USD": (0, 999, 0, 999)}
    assert balances(ledger, "L") == (0, 70, 0, 70)
    assert balances(ledger, "C") == (0, 0, 13, 120)


def test_check_reports_a_balance_that_disagrees_with_the_journal(
    ledger: Ledger, clock: ManualClock, engine: Engine
) -> None:
    mixed_activity(ledger, clock)
    with engine.begin() as conn:
        conn.execute(
            update(store.accounts)
            .where(store.accounts.c.id == "B")
            .values(credits_posted=store.accounts.c.credits_posted + 1)
        )
    report = ledger.check()
    assert not report.ok
    assert any(p.startswith("B: stored") for p in report.problems)
    assert any(p.startswith("CNY: debits_posted") for p in report.problems)
