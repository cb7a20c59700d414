"""Holds in `Posting`, called directly: posting, voiding and expiring them, and what each
step records (the transfer it creates, its entries, which rows are dirty)."""

from __future__ import annotations

from datetime import timedelta

from paycore import limits
from paycore.ledger.model import Entry, Transfer, TransferFlags, TransferRequest, TransferStatus
from paycore.ledger.posting import Posting
from tests.ledger.posting_kit import NOW, account, ledger, one, req

F = TransferFlags


def held(p: Posting, id: str = "h1", amount: int = 100, *, timeout_s: int = 0,
         code: int = 0) -> Transfer:  # fmt: skip
    assert one(p, req(id, amount=amount, flags=F.PENDING, timeout_s=timeout_s, code=code)) == (
        "created"
    )
    return p.transfers[id]


def resolve(
    id: str, pending_id: str, flag: int, amount: int | None = None, code: int = 0
) -> TransferRequest:
    """A post or void naming only the hold (and maybe an amount and code)."""
    return req(id, None, None, amount, flags=flag, currency=None, pending_id=pending_id,
               code=code)  # fmt: skip


def test_a_hold_moves_pending_balances_and_records_pending_entries() -> None:
    p = ledger()
    h = held(p, amount=70, timeout_s=60, code=9)

    assert (h.status, h.amount, h.code) == (TransferStatus.PENDING, 70, 9)
    assert h.expires_at == NOW + timedelta(seconds=60)
    assert h.created_at == NOW
    assert p.accounts["A"].balances() == (70, 0, 0, 0)
    assert p.accounts["B"].balances() == (0, 0, 70, 0)
    assert p.entries == [
        Entry("A", "h1", "pending", "debit", 70, 70, 0, 0, 0, NOW),
        Entry("B", "h1", "pending", "credit", 70, 0, 0, 70, 0, NOW),
    ]
    assert p.dirty_accounts == {"A", "B"}
    assert p.created == [h]


def test_a_hold_without_timeout_never_expires() -> None:
    p = ledger()

    assert held(p).expires_at is None
    p.now = NOW + timedelta(seconds=limits.TRANSFER_TIMEOUT_S_MAX * 2)
    assert p.expire_due() == []


def test_a_single_phase_transfer_posts_and_records_posted_entries() -> None:
    p = ledger()

    assert one(p, req(amount=30, metadata={"order": "o-1"}, code=4)) == "created"
    t = p.transfers["t1"]
    assert (t.status, t.amount, t.currency, t.code, t.expires_at) == (
        TransferStatus.POSTED, 30, "CNY", 4, None
    )  # fmt: skip
    assert (t.debit_account_id, t.credit_account_id, t.pending_id) == ("A", "B", None)
    assert t.metadata == {"order": "o-1"}
    assert p.entries == [
        Entry("A", "t1", "posted", "debit", 30, 0, 30, 0, 0, NOW),
        Entry("B", "t1", "posted", "credit", 30, 0, 0, 0, 30, NOW),
    ]
    assert p.dirty_transfers == set()


def test_a_transfer_without_metadata_stores_an_empty_mapping() -> None:
    p = ledger()
    one(p, req())

    assert p.transfers["t1"].metadata == {}


def test_posting_a_whole_hold_moves_it_to_posted_balances() -> None:
    p = ledger()
    held(p, code=9)

    assert one(p, resolve("p1", "h1", F.POST_PENDING)) == "created"
    posted = p.transfers["p1"]
    assert (posted.status, posted.amount, posted.code, posted.currency) == (
        TransferStatus.POSTED, 100, 9, "CNY"
    )  # fmt: skip
    assert (posted.debit_account_id, posted.credit_account_id, posted.expires_at) == (
        "A", "B", None
    )  # fmt: skip
    assert p.transfers["h1"].status == TransferStatus.POSTED_PENDING
    assert p.accounts["A"].balances() == (0, 100, 0, 0)
    assert p.accounts["B"].balances() == (0, 0, 0, 100)
    assert p.entries[2:] == [
        Entry("A", "p1", "posted", "debit", 100, 0, 100, 0, 0, NOW),
        Entry("B", "p1", "posted", "credit", 100, 0, 0, 0, 100, NOW),
    ]
    assert p.dirty_transfers == {"h1"}


def test_posting_part_of_a_hold_posts_that_part_and_releases_the_rest() -> None:
    p = ledger()
    held(p)

    assert one(p, resolve("p1", "h1", F.POST_PENDING, amount=40)) == "created"
    assert p.transfers["p1"].amount == 40
    assert p.accounts["A"].balances() == (0, 40, 0, 0)
    assert p.accounts["B"].balances() == (0, 0, 0, 40)


def test_posting_exactly_the_held_amount_is_accepted_and_one_more_is_not() -> None:
    p = ledger()
    held(p)
    held(p, "h2")

    assert one(p, resolve("p1", "h1", F.POST_PENDING, amount=101)) == (
        "exceeds_pending_transfer_amount"
    )
    assert one(p, resolve("p2", "h2", F.POST_PENDING, amount=100)) == "created"


def test_a_post_with_its_own_code_keeps_it_and_one_without_takes_the_holds() -> None:
    p = ledger()
    held(p, code=9)
    held(p, "h2", code=9)

    one(p, resolve("p1", "h1", F.POST_PENDING, code=5))
    one(p, resolve("p2", "h2", F.VOID_PENDING))
    assert p.transfers["p1"].code == 5
    assert p.transfers["p2"].code == 9


def test_voiding_a_hold_releases_it_and_records_voided_entries() -> None:
    p = ledger()
    held(p)

    assert one(p, resolve("v1", "h1", F.VOID_PENDING)) == "created"
    voided = p.transfers["v1"]
    assert (voided.status, voided.amount) == (TransferStatus.VOIDED, 100)
    assert p.transfers["h1"].status == TransferStatus.VOIDED_PENDING
    assert p.accounts["A"].balances() == (0, 0, 0, 0)
    assert p.accounts["B"].balances() == (0, 0, 0, 0)
    assert p.entries[2:] == [
        Entry("A", "v1", "voided", "debit", 100, 0, 0, 0, 0, NOW),
        Entry("B", "v1", "voided", "credit", 100, 0, 0, 0, 0, NOW),
    ]


def test_a_void_with_the_holds_exact_amount_is_accepted() -> None:
    p = ledger()
    held(p)

    assert one(p, resolve("v1", "h1", F.VOID_PENDING, amount=99)) == (
        "pending_transfer_has_different_amount"
    )
    assert one(p, resolve("v2", "h1", F.VOID_PENDING, amount=100)) == "created"


def test_a_post_of_part_of_a_hold_is_no_amount_mismatch() -> None:
    p = ledger()
    held(p)

    assert one(p, resolve("p1", "h1", F.POST_PENDING, amount=99)) == "created"


def test_resolving_a_hold_whose_debit_account_was_not_loaded_is_refused() -> None:
    p = ledger()
    held(p)
    del p.accounts["A"]

    assert one(p, resolve("p1", "h1", F.POST_PENDING)) == "debit_account_not_found"


def test_resolving_a_hold_whose_credit_account_was_not_loaded_is_refused() -> None:
    p = ledger()
    held(p)
    del p.accounts["B"]

    assert one(p, resolve("p1", "h1", F.VOID_PENDING)) == "credit_account_not_found"


# -- expiry ------------------------------------------------------------------------------------


def test_a_hold_expires_exactly_at_its_timeout_and_not_a_moment_before() -> None:
    p = ledger()
    held(p, timeout_s=60)

    p.now = NOW + timedelta(seconds=60) - timedelta(microseconds=1)
    assert p.expire_due() == []
    p.now = NOW + timedelta(seconds=60)
    assert p.expire_due() == ["h1"]
    assert p.transfers["h1"].status == TransferStatus.EXPIRED_PENDING
    assert p.accounts["A"].balances() == (0, 0, 0, 0)
    assert p.accounts["B"].balances() == (0, 0, 0, 0)
    assert p.entries[2:] == [
        Entry("A", "h1", "expired", "debit", 100, 0, 0, 0, 0, p.now),
        Entry("B", "h1", "expired", "credit", 100, 0, 0, 0, 0, p.now),
    ]
    assert p.dirty_transfers == {"h1"}


def test_an_expired_hold_is_expired_once() -> None:
    p = ledger()
    held(p, timeout_s=1)
    p.now = NOW + timedelta(seconds=5)

    assert p.expire_due() == ["h1"]
    assert p.expire_due() == []


def test_expiry_leaves_resolved_holds_and_plain_transfers_alone() -> None:
    p = ledger()
    held(p, timeout_s=1)
    one(p, resolve("p1", "h1", F.POST_PENDING))
    one(p, req("t2"))
    p.now = NOW + timedelta(seconds=5)

    assert p.expire_due() == []
    assert p.transfers["h1"].status == TransferStatus.POSTED_PENDING


def test_a_due_hold_whose_accounts_are_not_loaded_waits_for_a_later_sweep() -> None:
    p = ledger(account("C"))
    held(p, timeout_s=1)
    held(p, "h2", timeout_s=1)
    one(p, req("h3", "C", "B", flags=F.PENDING, timeout_s=1))
    p.now = NOW + timedelta(seconds=5)
    del p.accounts["A"]

    # h1 and h2 lack their debit account; h3 is between C and B, both loaded.
    assert p.expire_due() == ["h3"]
    assert p.transfers["h1"].status == TransferStatus.PENDING


def test_a_due_hold_whose_credit_account_is_not_loaded_waits_too() -> None:
    p = ledger()
    held(p, timeout_s=1)
    p.now = NOW + timedelta(seconds=5)
    del p.accounts["B"]

    assert p.expire_due() == []
    assert p.transfers["h1"].status == TransferStatus.PENDING
