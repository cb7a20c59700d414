"""The suspicious-transaction report draft of a case: its content, JSON and Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from paycore.aml.cases import Cases
from paycore.aml.model import SubjectType, Typology
from paycore.aml.str_draft import markdown
from paycore.aml.str_draft_lookup import WarehouseLookup
from paycore.errors import Rejected
from tests.aml.kit import Warehouse, at
from tests.aml.test_cases_fixtures import (  # noqa: F401
    FakeLookup,
    alert,
    cases_fixture,
    cipher_fixture,
    empty_aml_tables_fixture,
    lookup_fixture,
)


def _investigating(cases: Cases, **alert_fields: object) -> str:
    (case_id,) = cases.open_cases([alert(**alert_fields)], period="2026-11").opened  # type: ignore[arg-type]
    cases.transition(case_id, "investigate", version=1, actor="ana")
    return case_id


def test_a_draft_names_the_institution_subject_behaviour_transactions_and_conclusion(
    cases: Cases,
) -> None:
    case_id = _investigating(cases, transaction_ids=("tr_1", "pay_2"))

    document = cases.draft_str(
        case_id,
        conclusion="Collects from 300 payers, pays out the same day: a front.",
        measures="Payouts held; enhanced due diligence.",
        version=2,
        actor="ana",
    )

    assert document["reporting_institution"] == {"name": "Test Payments Ltd", "code": "TPL0001"}
    assert document["subject"] == {
        "type": "merchant",
        "id": "mch_front",
        "merchant_id": "mch_front",
    }
    (behaviour,) = document["suspicious_behaviour"]
    assert behaviour["typology"] == "fan_in" and behaviour["words_zh"].startswith("mch_front")
    assert [(t["id"], t["amount_minor"], t["currency"]) for t in document["transactions"]] == [
        ("tr_1", 1000, "CNY"),
        ("pay_2", 1001, "CNY"),
    ]
    assert document["transaction_totals"] == [{"currency": "CNY", "amount_minor": 2001}]
    assert document["conclusion"].endswith("a front.")
    assert cases.str_document(case_id) == document


def test_the_markdown_draft_reads_as_the_report_in_both_languages(cases: Cases) -> None:
    case_id = _investigating(cases)
    cases.draft_str(case_id, conclusion="A front.", version=2, actor="ana")

    page = markdown(cases.str_document(case_id))

    assert page.startswith("# 可疑交易报告 (草稿) / Suspicious transaction report (draft)")
    for heading in (
        "可疑主体 Subject",
        "可疑交易特征 Suspicious behaviour",
        "可疑交易明细 Transactions",
        "疑点分析与结论 Analysis and conclusion",
    ):
        assert f"## {heading}" in page
    assert "| `tr_1` | transfer | 1000 | 10.00 | CNY |" in page
    assert "| **total** | | 2001 | 20.01 | CNY | |" in page


def test_personal_numbers_stay_out_of_the_draft(cases: Cases) -> None:
    owner = "mch_a:13812345678"
    case_id = _investigating(cases, subject=owner, subject_type=SubjectType.OWNER)

    document = cases.draft_str(
        case_id,
        conclusion="Owner 13812345678 uses card 6222021234567890123.",
        version=2,
        actor="ana",
    )

    assert document["subject"] == {
        "type": "owner",
        "id": "mch_a:138****5678",
        "merchant_id": "mch_a",
    }
    assert "13812345678" not in document["conclusion"]
    assert "6222021234567890123" not in document["conclusion"]


def test_the_draft_is_sealed_at_rest_and_each_draft_is_kept(cases: Cases, engine: Engine) -> None:
    case_id = _investigating(cases)
    cases.draft_str(case_id, conclusion="first view", version=2, actor="ana")
    cases.draft_str(case_id, conclusion="second view", version=3, actor="ana")

    with engine.connect() as conn:
        sealed = conn.execute(text("SELECT document_enc FROM aml_str_drafts")).scalars().all()

    assert len(sealed) == 2 and not any("view" in s for s in sealed)
    assert cases.str_document(case_id)["conclusion"] == "second view"
    assert cases.str_document(case_id)["draft_no"] == 2


def test_an_id_missing_from_the_warehouse_is_listed_as_not_found(
    cases: Cases, lookup: FakeLookup
) -> None:
    lookup.missing.add("tr_2")
    case_id = _investigating(cases)

    document = cases.draft_str(case_id, conclusion="x", version=2, actor="ana")

    assert [t["found"] for t in document["transactions"]] == [True, False]
    assert "| `tr_2` | not in the warehouse |" in markdown(document)


def test_no_draft_for_a_case_not_under_investigation(cases: Cases, lookup: FakeLookup) -> None:
    (case_id,) = cases.open_cases([alert(Typology.CYCLE)], period="2026-11").opened

    with pytest.raises(Rejected) as refused:
        cases.draft_str(case_id, conclusion="x", version=1, actor="ana")

    assert refused.value.code == "case_transition_invalid"
    assert lookup.asked == []  # refused before reading the warehouse


def test_the_warehouse_lookup_finds_transfers_and_orders_by_id(tmp_path: Path) -> None:
    house = Warehouse()
    payin = house.payin("mch_a", 12_345, at(1, 9), payer="p1")
    moved = house.transfer("mch_a", "mch_b", 500, at(2, 23, 30))
    house.write(tmp_path)

    found = WarehouseLookup(tmp_path).find([moved, payin, "tr_nowhere"])

    assert [(t.id, t.kind, t.amount_minor, t.currency, t.found) for t in found] == [
        (moved, "transfer", 500, "CNY", True),
        (payin, "payin", 12_345, "CNY", True),
        ("tr_nowhere", "unknown", None, None, False),
    ]
    assert found[0].at is not None and found[0].at.isoformat() == "2025-08-06T15:30:00+00:00"
