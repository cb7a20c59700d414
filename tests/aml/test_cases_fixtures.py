"""Fixtures of the AML cases tests (imported by tests/aml/test_cases_*.py): the service on
the test database with its own field key and a fake transaction lookup, and alerts made by
hand. No tests here.

Until paycore.tables registers aml/store_cases (its `_STORES`), the PostgreSQL emptier of
tests/conftest.py does not know the AML tables: `empty_aml_tables` empties them (with
triggers off for its transaction, as the emptier does for audit_log)."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from paycore.aml.cases import Cases
from paycore.aml.model import Alert, Reason, SubjectType, Typology, Words
from paycore.aml.str_draft import Institution, Transaction
from paycore.clock import ManualClock
from paycore.security.crypto import FieldCipher

KEY = bytes(range(32))
FIELD_KEYS = "amlc1:" + base64.b64encode(KEY).decode()
THRESHOLD = 50
INSTITUTION = Institution(name="Test Payments Ltd", code="TPL0001")
_AML_TABLES = ("aml_case_events", "aml_str_drafts", "aml_alerts", "aml_cases")


@pytest.fixture(name="empty_aml_tables", autouse=True)
def empty_aml_tables_fixture(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for table in _AML_TABLES:
                conn.exec_driver_sql(f"DELETE FROM {table}")
    yield


@pytest.fixture(name="cipher")
def cipher_fixture() -> FieldCipher:
    return FieldCipher({"amlc1": KEY}, "amlc1")


class FakeLookup:
    """Every id is a CNY transfer of 1000 + its position, an hour apart; `missing` are not."""

    def __init__(self, missing: Sequence[str] = ()) -> None:
        self.missing = set(missing)
        self.asked: list[list[str]] = []

    def find(self, ids: Sequence[str]) -> list[Transaction]:
        self.asked.append(list(ids))
        return [
            Transaction(tid, "unknown", None, None, None, False)
            if tid in self.missing
            else Transaction(tid, "transfer", 1000 + i, "CNY", datetime(2026, 11, 3, i, tzinfo=UTC))
            for i, tid in enumerate(ids)
        ]


@pytest.fixture(name="lookup")
def lookup_fixture() -> FakeLookup:
    return FakeLookup()


@pytest.fixture(name="cases")
def cases_fixture(
    engine: Engine, cipher: FieldCipher, clock: ManualClock, lookup: FakeLookup
) -> Cases:
    return Cases(engine, cipher, clock, lookup=lookup, institution=INSTITUTION)


def reason(
    typology: Typology = Typology.FAN_IN,
    *,
    subject: str = "mch_front",
    subject_type: SubjectType = SubjectType.MERCHANT,
    weight: int = 40,
    transaction_ids: tuple[str, ...] = ("tr_1", "tr_2"),
) -> Reason:
    return Reason(
        rule=typology.value,
        typology=typology,
        subject_type=subject_type,
        subject_id=subject,
        words=Words(
            en=f"{typology.value} seen on {subject}", zh=f"{subject} 出现 {typology.value}"
        ),
        weight=weight,
        transaction_ids=transaction_ids,
        transaction_count=len(transaction_ids) + 10,
    )


def alert(
    *typologies: Typology,
    subject: str = "mch_front",
    subject_type: SubjectType = SubjectType.MERCHANT,
    score: int = 60,
    transaction_ids: tuple[str, ...] = ("tr_1", "tr_2"),
) -> Alert:
    kinds = typologies or (Typology.FAN_IN,)
    reasons = tuple(
        reason(t, subject=subject, subject_type=subject_type, transaction_ids=transaction_ids)
        for t in kinds
    )
    return Alert(subject_type, subject, score, THRESHOLD, reasons)
