"""Fixtures of the data-subject tests: the custody desk's runtime on a cipher bound to a
key store (subjects need one), the Subjects service on it, and test payers whose numbers
are built at run time (the leak guard then only sees what paycore is asked to reveal)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

import pytest
from sqlalchemy import Engine

from paycore.channels.model import Payer
from paycore.payments.service import PayinCommand
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.security.keys import FileKeyProvider
from paycore.security.subjects import Subjects
from tests.custody.conftest import Desk
from tests.payments.fakes import succeeded
from tests.security.conftest_keys import (  # noqa: F401
    STATIC_KEY,
    file_provider_fixture,
    key_tables_fixture,
)

REASON = "data subject request 2026-118 from the payer, by letter"
_keys = count()


@dataclass(frozen=True, slots=True)
class SamplePayer:
    card: str
    id_number: str
    phone: str
    name: str

    def payer(self) -> Payer:
        return Payer(self.card, self.name, id_number=self.id_number, phone=self.phone)


PAYER_A = SamplePayer(
    card="".join(("6228", "4811", "2233", "4455", "667")),
    id_number="".join(("110105", "1990", "0307", "2318")),
    phone="".join(("139", "1122", "3344")),
    name="".join(("Han", " ", "Mei")),
)
PAYER_B = SamplePayer(
    card="".join(("6228", "4899", "7766", "5544", "332")),
    id_number="".join(("310104", "1988", "1212", "4417")),
    phone="".join(("137", "9988", "7766")),
    name="".join(("Li", " ", "Lei")),
)


@pytest.fixture(name="field_cipher")
def bound_field_cipher_fixture(key_tables: Engine, file_provider: FileKeyProvider) -> FieldCipher:
    """A cipher with a key provider: the runtime binds it to the key store."""
    return FieldCipher({"old1": STATIC_KEY}, "old1", provider=file_provider)


@pytest.fixture(name="subjects")
def subjects_fixture(runtime: Runtime) -> Subjects:
    return Subjects(
        runtime.engine,
        cipher=runtime.cipher,
        blind=runtime.blind_index,
        audit=runtime.audit_log,
    )


def pay(
    desk: Desk, payer: SamplePayer, *, merchant_id: str | None = None, amount: int = 100
) -> str:
    """A pay-in the scripted bank confirms at once."""
    desk.alpha.then(succeeded())
    created = desk.runtime.payments.create_payin(
        PayinCommand(merchant_id or desk.merchant_id, "card", amount, "CNY", payer.payer()),
        idempotency_key=f"subject-{next(_keys)}",
    )
    return str(created.body["id"])
