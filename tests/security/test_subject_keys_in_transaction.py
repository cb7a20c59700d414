"""Data-subject keys claimed in the caller's own write transaction (pay-ins, payouts): no
write of their own, nothing left behind by a rollback, one salt per subject however many
transactions claim it at once, and never the salt of an erased subject again."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select

from paycore.clock import ManualClock
from paycore.platform.db import WRITER, make_engine
from paycore.security import store_keys
from paycore.security.crypto import FieldCipher, SubjectErased, SubjectKey
from paycore.security.keys import FileKeyProvider
from tests.security.conftest_keys import (  # noqa: F401
    STATIC_KEY,
    bound_cipher_fixture,
    file_provider_fixture,
    key_tables_fixture,
)

CONTEXT = "pay_1:name"


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(store_keys.subject_keys)).one()[0])


def test_a_new_subjects_key_is_written_by_the_callers_transaction_and_cached_after_it(
    bound_cipher: FieldCipher, key_tables: Engine
) -> None:
    key = bound_cipher.subject_key("payer-a")
    token = bound_cipher.encrypt_for("张三", context=CONTEXT, key=key)
    assert key.new and _rows(key_tables) == 0  # nothing written before the transaction

    with key_tables.connect().execution_options(**WRITER) as conn, conn.begin():
        held = bound_cipher.claim_subject(conn, key)
    bound_cipher.remember_subject(held)

    assert held == key and _rows(key_tables) == 1
    assert bound_cipher.decrypt(token, context=CONTEXT) == "张三"
    again = bound_cipher.subject_key("payer-a")
    assert (again.id, again.new) == (key.id, False)
    assert bound_cipher.ensure_subject("payer-a") == key.id  # the other way finds the same


def test_a_rolled_back_claim_leaves_no_row_and_no_cached_key(
    bound_cipher: FieldCipher, key_tables: Engine
) -> None:
    first = bound_cipher.subject_key("payer-a")
    conn = key_tables.connect().execution_options(**WRITER)
    with conn.begin() as transaction:
        bound_cipher.claim_subject(conn, first)
        transaction.rollback()
    conn.close()

    second = bound_cipher.subject_key("payer-a")
    assert second.new and second.id != first.id and _rows(key_tables) == 0
    token = bound_cipher.encrypt_for("张三", context=CONTEXT, key=second)
    with key_tables.connect().execution_options(**WRITER) as conn, conn.begin():
        bound_cipher.claim_subject(conn, second)
    bound_cipher.remember_subject(second)
    assert bound_cipher.decrypt(token, context=CONTEXT) == "张三"


def test_a_claim_of_a_subject_made_meanwhile_answers_that_subjects_key(
    bound_cipher: FieldCipher, key_tables: Engine
) -> None:
    fresh = bound_cipher.subject_key("payer-a")  # nobody has it yet
    made = bound_cipher.ensure_subject("payer-a")  # another transaction makes it meanwhile

    with key_tables.connect().execution_options(**WRITER) as conn, conn.begin():
        held = bound_cipher.claim_subject(conn, fresh)

    assert fresh.new and held.id == made != fresh.id and not held.new
    assert _rows(key_tables) == 1
    token = bound_cipher.encrypt_for("张三", context=CONTEXT, key=held)
    assert bound_cipher.decrypt(token, context=CONTEXT) == "张三"


def test_a_subject_the_process_forgot_is_read_not_made_again(
    bound_cipher: FieldCipher, key_tables: Engine
) -> None:
    made = bound_cipher.ensure_subject("payer-a")
    bound_cipher.keyring._subjects.clear()  # as when this process's cache expires

    known = bound_cipher.subject_key("payer-a")

    assert (known.id, known.new) == (made, False) and _rows(key_tables) == 1


def test_an_erased_subject_claimed_again_gets_a_new_key_and_its_old_values_stay_erased(
    bound_cipher: FieldCipher, key_tables: Engine
) -> None:
    old = bound_cipher.subject_key("payer-a")
    old_token = bound_cipher.encrypt_for("张三", context=CONTEXT, key=old)
    with key_tables.connect().execution_options(**WRITER) as conn, conn.begin():
        bound_cipher.claim_subject(conn, old)
    bound_cipher.remember_subject(old)
    assert bound_cipher.shred("payer-a") is True

    new = bound_cipher.subject_key("payer-a")
    assert new.new and new.salt != old.salt
    with key_tables.connect().execution_options(**WRITER) as conn, conn.begin():
        held = bound_cipher.claim_subject(conn, new)
    assert held.id == new.id != old.id
    with pytest.raises(SubjectErased):
        bound_cipher.decrypt(old_token, context=CONTEXT)


def test_two_first_claims_of_one_subject_at_once_agree_on_one_salt(
    key_tables: Engine,
    database_url: str,
    file_provider: FileKeyProvider,
    clock: ManualClock,
    bound_cipher: FieldCipher,
) -> None:
    """Two processes (two engines), each claiming in its own transaction; the second
    INSERT waits for the first transaction (PostgreSQL: the unique index; SQLite: the
    write lock) and then answers the first one's key."""
    other_engine = make_engine(database_url)
    other = FieldCipher({"old1": STATIC_KEY}, "old1", provider=file_provider)
    other.bind(other_engine, clock=clock)
    ciphers = (bound_cipher, other)
    engines = (key_tables, other_engine)
    first_claimed = threading.Event()
    held: dict[int, SubjectKey] = {}
    tokens: dict[int, str] = {}
    failures: list[BaseException] = []

    def claim(index: int) -> None:
        try:
            cipher, engine = ciphers[index], engines[index]
            key = cipher.subject_key("payer-a")
            if index == 1:
                first_claimed.wait(timeout=10)
            with engine.connect().execution_options(**WRITER) as conn, conn.begin():
                found = cipher.claim_subject(conn, key)
                if index == 0:
                    first_claimed.set()
                    threading.Event().wait(0.3)  # the other claim is waiting on us now
            cipher.remember_subject(found)
            held[index] = found
            tokens[index] = cipher.encrypt_for(f"value {index}", context=CONTEXT, key=found)
        except BaseException as error:  # surfaced below, with the thread's trace
            failures.append(error)
            first_claimed.set()

    threads = [threading.Thread(target=claim, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    other_engine.dispose()

    assert not failures, failures
    assert (held[0].id, held[0].salt) == (held[1].id, held[1].salt)
    assert _rows(key_tables) == 1
    for index in (0, 1):  # each side opens what the other sealed
        assert ciphers[1 - index].decrypt(tokens[index], context=CONTEXT) == f"value {index}"
