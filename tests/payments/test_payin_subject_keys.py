"""A pay-in seals its payer under the payer's data-subject key, the key's row written in the
pay-in's own transaction: every order of one payer shares one key, whether this process
knew the payer or not, a pay-in that fails to record leaves nothing that breaks the next
one, and an erased payer paying again gets a new key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.payments import service
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.security import store_keys
from paycore.security.crypto import FieldCipher, SubjectErased
from paycore.security.keys import KEK_FILE, FileKeyProvider
from tests.payments.fakes import ScriptedChannel, succeeded
from tests.payments.http_conftest import scripted_runtime
from tests.payments.test_payin_flows import payin


@pytest.fixture
def bound_runtime(
    database_url: str, engine: Engine, clock: ManualClock, ledger: Ledger, tmp_path: Path
) -> Iterator[Runtime]:
    """Payments with the envelope (a file KEK) and the blind index: subjects are on."""
    with engine.begin() as conn:
        conn.execute(store_keys.subject_keys.delete())
    cipher = FieldCipher({"t1": b"\x05" * 32}, "t1", provider=FileKeyProvider(tmp_path / KEK_FILE))
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=cipher,
        channels=[ScriptedChannel("alpha")],
        settings=Settings(database_url=database_url, expiry_interval_s=1.0, data_dir=str(tmp_path)),
    )


def _pay(runtime: Runtime, key: str, **extra: Any) -> str:
    channel = runtime.channels.registry.get("alpha")
    channel.then(succeeded())  # type: ignore[attr-defined]
    merchant = _merchant(runtime)
    answer = runtime.payments.create_payin(payin(merchant=merchant, **extra), idempotency_key=key)
    return str(answer.body["id"])


def _merchant(runtime: Runtime) -> str:
    found = runtime.merchants.list(limit=1)
    if found:
        return found[0].id
    merchant, _secret = runtime.merchants.create(name="Subjects shop", fee_bps=0)
    return merchant.id


def _subject_key_ids(runtime: Runtime, order_id: str) -> set[str]:
    order = runtime.payments.get(merchant_id=None, order_id=order_id)
    return {token.split("$")[3] for token in order.party_enc.values()}


def _live_keys(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count()).where(store_keys.subject_keys.c.salt.is_not(None))
        return int(conn.execute(query.select_from(store_keys.subject_keys)).one()[0])


def test_every_payin_of_one_payer_is_under_one_key_known_to_the_process_or_not(
    bound_runtime: Runtime, engine: Engine
) -> None:
    first = _pay(bound_runtime, "k1")
    second = _pay(bound_runtime, "k2")  # the key is cached now
    ring = bound_runtime.cipher.keyring
    ring._subjects.clear()  # the process forgets it, as when its cache expires
    ring._salts.clear()
    third = _pay(bound_runtime, "k3")  # claims a fresh key, finds the payer's, seals again

    keys = [_subject_key_ids(bound_runtime, order_id) for order_id in (first, second, third)]
    assert len(keys[0]) == 1 and keys[0] == keys[1] == keys[2]
    assert _live_keys(engine) == 1
    revealed = bound_runtime.payments.reveal_party(
        bound_runtime.payments.get(merchant_id=None, order_id=third)
    )
    assert revealed["name"] == "张三"


def test_a_payin_whose_payer_got_a_key_meanwhile_is_sealed_again_under_that_key(
    bound_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first pay-ins of one payer at once: the other one's transaction made the key
    between this pay-in's read and its claim; the claim answers it and the party is
    sealed again under it in the same transaction."""
    made: list[str] = []
    real = service.payer_subject_key
    monkeypatch.setattr(
        service, "payer_subject_key", lambda c, b, n: _made_meanwhile(real, made, c, b, n)
    )

    order_id = _pay(bound_runtime, "k1")

    assert _subject_key_ids(bound_runtime, order_id) == set(made)
    order = bound_runtime.payments.get(merchant_id=None, order_id=order_id)
    assert bound_runtime.payments.reveal_party(order)["name"] == "张三"


def _made_meanwhile(
    real: Any, made: list[str], cipher: FieldCipher, blind: Any, numbers: Any
) -> Any:
    key = real(cipher, blind, numbers)
    assert key.new
    made.append(cipher.ensure_subject(key.subject))
    return key


def test_a_payin_refused_while_recording_leaves_nothing_that_breaks_the_next_one(
    bound_runtime: Runtime, engine: Engine
) -> None:
    _pay(bound_runtime, "k1", merchant_reference="ref-1", payer=_other_payer())
    with pytest.raises(Rejected) as refused:  # rolled back after nothing was claimed yet
        _pay(bound_runtime, "k2", merchant_reference="ref-1")
    assert refused.value.code == "duplicate_merchant_reference"
    assert _live_keys(engine) == 1  # only the other payer's

    order_id = _pay(bound_runtime, "k3")
    order = bound_runtime.payments.get(merchant_id=None, order_id=order_id)
    assert bound_runtime.payments.reveal_party(order)["name"] == "张三"
    assert _live_keys(engine) == 2


def test_an_erased_payer_paying_again_gets_a_new_key_and_the_old_order_stays_erased(
    bound_runtime: Runtime,
) -> None:
    old = _pay(bound_runtime, "k1")
    (subject_key,) = _subject_key_ids(bound_runtime, old)
    with bound_runtime.engine.connect() as conn:
        row = conn.execute(
            select(store_keys.subject_keys).where(store_keys.subject_keys.c.id == subject_key)
        ).one()
    assert bound_runtime.cipher.shred(row.subject) is True

    new = _pay(bound_runtime, "k2")

    assert _subject_key_ids(bound_runtime, new) != {subject_key}
    payments = bound_runtime.payments
    assert payments.reveal_party(payments.get(merchant_id=None, order_id=new))["name"] == "张三"
    with pytest.raises(SubjectErased):
        payments.reveal_party(payments.get(merchant_id=None, order_id=old))


def _other_payer() -> Any:
    from paycore.channels.model import Payer

    return Payer(card_number="6222000000000018", name="李四", id_number="11010119900307007X")
