"""The fingerprint SQL: the same on both databases, additive over seq ranges, and moved by
any changed amount."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from paycore.clock import ManualClock
from paycore.dr import store
from paycore.dr.model import differences
from paycore.ledger.service import Ledger
from paycore.platform.db import make_engine, upgrade
from tests.conftest import postgres_only
from tests.dr.journal_kit import open_accounts, post


@pytest.fixture
def journal(database_url: str, ledger: Ledger) -> Iterator[Engine]:
    """A journal of 300 transfers, read by an engine whose connections know the hash."""
    post(ledger, open_accounts(ledger), "tr_f", transfers=300)
    reader = store.prepare(make_engine(database_url, pool_size=2))
    yield reader
    reader.dispose()


def test_the_digest_of_a_seq_range_is_the_sum_of_the_digests_of_its_halves(journal: Engine) -> None:
    with journal.connect() as conn:
        last = store.last_seq(conn)
        whole = store.digest(conn, "entries", lo=0, hi=last)
        left = store.digest(conn, "entries", lo=0, hi=last // 3)
        right = store.digest(conn, "entries", lo=last // 3 + 1, hi=last)

    assert whole.rows == left.rows + right.rows == last
    assert whole.amount == left.amount + right.amount
    assert whole.hash_high == left.hash_high + right.hash_high
    assert whole.hash_low == left.hash_low + right.hash_low


def test_a_changed_entry_amount_moves_the_entries_sum_and_digest_only(journal: Engine) -> None:
    with journal.connect() as conn:
        seq = store.last_seq(conn)
        before = store.fingerprint(conn, seq)
    with journal.begin() as conn:
        conn.execute(text("UPDATE ledger_entries SET amount = amount + 1 WHERE seq = 7"))
    with journal.connect() as conn:
        after = store.fingerprint(conn, seq)

    assert differences(before, after) == [
        f"entries: amounts sum to {before.entries.amount + 1}, expected {before.entries.amount}",
        "entries: digest differs (a row's content changed)",
    ]


def test_the_live_balances_equal_the_balances_recomputed_from_the_journal(journal: Engine) -> None:
    with journal.connect() as conn:
        live = store.digest(conn, "live_balances")
        recomputed = store.fingerprint(conn, store.last_seq(conn)).balances

    assert live == recomputed
    assert live.rows > 0


@postgres_only
def test_the_same_journal_has_the_same_fingerprint_on_sqlite_and_postgresql(
    journal: Engine, tmp_path: Path
) -> None:
    lite_url = f"sqlite:///{tmp_path / 'twin.db'}"
    upgrade(lite_url)
    lite = store.prepare(make_engine(lite_url))
    twin = Ledger(lite, clock=ManualClock())
    try:
        post(twin, open_accounts(twin), "tr_f", transfers=300)
    finally:
        twin.close()
    with journal.connect() as pg_conn, lite.connect() as lite_conn:
        seq = store.last_seq(pg_conn)
        assert store.fingerprint(pg_conn, seq) == store.fingerprint(lite_conn, seq)
    lite.dispose()
