"""`paycore security lookup backfill` after a blind-key rotation re-hashes the custody
virtual accounts' own blind tokens (custody_subaccounts.virtual_account_hmac) under the
active key: keyset pages, one transaction and checkpoint each, resumable, with progress."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import Engine, delete, select, update

from paycore.clock import ManualClock
from paycore.custody import store as custody_store
from paycore.custody.model import DEFAULT_BANK, Role
from paycore.custody.subaccounts import SubAccounts, VirtualAccounts
from paycore.ledger.service import Ledger
from paycore.security import store_blind
from paycore.security.blind import BlindIndexer, BlindKeyInvalid
from paycore.security.blind_backfill import REHASHED, Backfill
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher

OLD = BlindIndexer({"o1": os.urandom(32)}, "o1")
OWNERS = ("buyer-1", "buyer-2", "buyer-3", "buyer-4", "buyer-5")


@pytest.fixture
def opened(
    engine: Engine, ledger: Ledger, clock: ManualClock, field_cipher: FieldCipher
) -> dict[str, str]:
    """Five sub-accounts opened under the old blind key: owner -> number."""
    with engine.begin() as conn:
        conn.execute(delete(store_blind.backfill_checkpoints))
    numbers = VirtualAccounts(cipher=field_cipher, indexer=OLD)
    subaccounts = SubAccounts(engine=engine, ledger=ledger, clock=clock, numbers=numbers)
    return {
        owner: subaccounts.open("m1", DEFAULT_BANK, owner=owner, role=Role.BUYER).virtual_account
        for owner in OWNERS
    }


def _hmacs(engine: Engine) -> dict[str, str | None]:
    c = custody_store.subaccounts.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.owner, c.virtual_account_hmac).where(c.merchant_id == "m1"))
        return {r.owner: r.virtual_account_hmac for r in rows}


def _rehash_only(backfill: Backfill, **options: int) -> tuple[int, int, bool]:
    """Runs the walk; the index sources hold nothing here, so every page is a re-hash
    page but the first empty page of each index source."""
    result = backfill.run(**options)
    done = result.sources.get(REHASHED)
    return (done.rows, done.entries, result.finished) if done else (0, 0, result.finished)


def test_the_backfill_moves_every_virtual_account_token_to_the_new_key_in_resumable_pages(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, opened: dict[str, str]
) -> None:
    rotated = OLD.rotated("n2", os.urandom(32))
    backfill = Backfill(BlindIndex(engine, rotated, clock), field_cipher)
    seen: list[tuple[int, int]] = []

    # The four (empty) index sources take a page each per run, then come re-hash pages.
    first = _rehash_only(backfill, page_size=2, pages_max=6)
    middle = _rehash_only(backfill, page_size=2, pages_max=5)
    rest = backfill.run(
        page_size=2,
        progress=lambda s, done, total: seen.append((done, total)) if s == REHASHED else None,
    )

    assert first == (4, 4, False) and middle == (1, 1, True)
    assert rest.finished and rest.sources[REHASHED].rows == 0
    assert seen[-1] == (5, 5)
    hmacs = _hmacs(engine)
    for owner, number in opened.items():
        assert hmacs[owner] == rotated.token("account_number", number)
    again = Backfill(BlindIndex(engine, rotated, clock), field_cipher)
    assert again.run().sources[REHASHED].entries == 0  # checkpoint at the end: nothing new


def test_a_token_already_under_the_active_key_is_left_and_an_unreadable_row_is_counted(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, opened: dict[str, str]
) -> None:
    rotated = OLD.rotated("n2", os.urandom(32))
    c = custody_store.subaccounts.c
    with engine.begin() as conn:
        conn.execute(
            update(custody_store.subaccounts)
            .where(c.owner == "buyer-2")
            .values(virtual_account_hmac=rotated.token("account_number", opened["buyer-2"]))
        )
        # Sealed under another row's context: it does not open here.
        other = conn.execute(select(c.virtual_account_enc).where(c.owner == "buyer-1")).scalar_one()
        conn.execute(
            update(custody_store.subaccounts)
            .where(c.owner == "buyer-3")
            .values(virtual_account_enc=other)
        )
    before = _hmacs(engine)

    result = Backfill(BlindIndex(engine, rotated, clock), field_cipher).run()

    done = result.sources[REHASHED]
    assert (done.rows, done.entries, done.unreadable) == (5, 3, 1)
    after = _hmacs(engine)
    assert after["buyer-2"] == before["buyer-2"]
    assert after["buyer-3"] == before["buyer-3"]  # kept: still found while the old key lives


def test_matching_finds_rehashed_numbers_with_the_old_key_retired(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, opened: dict[str, str]
) -> None:
    rotated = OLD.rotated("n2", os.urandom(32))
    Backfill(BlindIndex(engine, rotated, clock), field_cipher).run()
    retired = VirtualAccounts(cipher=field_cipher, indexer=rotated.retired("o1"))

    with engine.connect() as conn:
        found = {o: retired.find(conn, bank=DEFAULT_BANK.name, number=n) for o, n in opened.items()}

    assert {o: (row or {}).get("owner") for o, row in found.items()} == {o: o for o in OWNERS}


def test_a_rotation_refuses_a_key_id_in_use_and_retiring_the_writing_key() -> None:
    rotated = OLD.rotated("n2", os.urandom(32))

    with pytest.raises(BlindKeyInvalid):
        rotated.rotated("o1", os.urandom(32))
    with pytest.raises(BlindKeyInvalid):
        rotated.retired("n2")
    assert rotated.key_ids == ("o1", "n2") and rotated.retired("o1").key_ids == ("n2",)
