# ruff: noqa: F811  (fixtures are imported, then requested by name)
"""Data-subject requests through the wired runtime: every order of a payer shares one
subject; export finds and opens it all; erasure shreds it, unlinks it, and leaves the
money, the journal, the checks and every other payer as they were."""

from __future__ import annotations

import pytest

from paycore.collection.model import Method, parse_month
from paycore.consistency.service import FlowCheck
from paycore.errors import Rejected
from paycore.payments.model import OrderStatus
from paycore.security.crypto import SubjectErased
from paycore.security.model import Principal, Scope
from paycore.security.subjects import ERASED_MARK, Subjects
from tests.collection.conftest import terms
from tests.custody.conftest import Desk, alpha, clock, desk, runtime  # noqa: F401
from tests.security.conftest_keys import (  # noqa: F401
    file_provider_fixture,
    key_tables_fixture,
)
from tests.security.conftest_subjects import (  # noqa: F401
    PAYER_A,
    PAYER_B,
    REASON,
    bound_field_cipher_fixture,
    pay,
    subjects_fixture,
)

OPERATOR = Principal("k_ops", None, frozenset({Scope.ADMIN, Scope.PII_REVEAL}))


def test_every_order_of_a_payer_is_sealed_under_one_subject_named_by_the_id_number(
    desk: Desk,
) -> None:
    runtime = desk.runtime
    first, second = pay(desk, PAYER_A), pay(desk, PAYER_A)
    other = pay(desk, PAYER_B)

    def subject_key(order_id: str) -> str:
        token = runtime.payments.get(merchant_id=None, order_id=order_id).party_enc["name"]
        return token.split("$")[3]  # `$2$<dek>$<subject key id>$<sealed>`

    assert subject_key(first) == subject_key(second) != subject_key(other)
    subject = runtime.blind_index.indexer.lookup_tokens("id_number", PAYER_A.id_number)[0]
    assert runtime.cipher.ensure_subject(subject) == subject_key(first)


def test_an_export_holds_the_payers_orders_opened_and_no_other_payers(
    desk: Desk, subjects: Subjects
) -> None:
    mine = sorted([pay(desk, PAYER_A, amount=250), pay(desk, PAYER_A, amount=300)])
    pay(desk, PAYER_B)

    document = subjects.export(
        OPERATOR, numbers={"phone": PAYER_A.phone}, reason=REASON, request_id="r-1"
    )

    assert [o["id"] for o in document["payment_orders"]] == mine
    assert [o["amount_minor"] for o in document["payment_orders"]] == [250, 300]
    assert {o["status"] for o in document["payment_orders"]} == {OrderStatus.SUCCEEDED}
    assert document["payment_orders"][0]["party"] == {
        "card_number": PAYER_A.card,
        "id_number": PAYER_A.id_number,
        "name": PAYER_A.name,
        "phone": PAYER_A.phone,
    }
    records = desk.runtime.audit_log.list()
    assert [(r.entry.action, r.entry.reason) for r in records] == [("pii.subject_export", REASON)]
    assert document["audit_seq"] == records[0].seq


def test_erasure_shreds_the_payer_and_keeps_money_checks_and_other_payers(
    desk: Desk, subjects: Subjects
) -> None:
    runtime = desk.runtime
    mine = [pay(desk, PAYER_A, amount=250), pay(desk, PAYER_A, amount=300)]
    theirs = pay(desk, PAYER_B)
    balances_before = runtime.ledger.check().totals

    erased = subjects.erase(
        OPERATOR, numbers={"card_number": PAYER_A.card}, reason=REASON, request_id="r-2"
    )

    assert (erased.objects, erased.subjects_shredded) == (2, 1)
    assert runtime.blind_index.find("card_number", PAYER_A.card) == []
    assert runtime.blind_index.find("id_number", PAYER_A.id_number) == []
    for order_id, amount in zip(mine, [250, 300], strict=True):
        order = runtime.payments.get(merchant_id=None, order_id=order_id)
        assert (order.amount, order.status) == (amount, OrderStatus.SUCCEEDED)
        assert set(order.party_masked.values()) == {ERASED_MARK}
        with pytest.raises(SubjectErased):
            runtime.payments.reveal_party(order)
    other = runtime.payments.get(merchant_id=None, order_id=theirs)
    assert runtime.payments.reveal_party(other)["card_number"] == PAYER_B.card
    assert runtime.blind_index.find("card_number", PAYER_B.card) != []
    report = runtime.ledger.check()
    assert report.ok and report.totals == balances_before
    assert FlowCheck(runtime.engine, runtime.clock).run().ok


def test_erasing_again_finds_nothing_and_an_export_then_finds_no_subject(
    desk: Desk, subjects: Subjects
) -> None:
    pay(desk, PAYER_A)
    numbers = {"id_number": PAYER_A.id_number}
    subjects.erase(OPERATOR, numbers=numbers, reason=REASON, request_id="r-3")

    again = subjects.erase(OPERATOR, numbers=numbers, reason=REASON, request_id="r-4")

    assert (again.objects, again.subjects_shredded, again.index_rows_removed) == (0, 0, 0)
    with pytest.raises(Rejected) as refused:
        subjects.export(OPERATOR, numbers=numbers, reason=REASON, request_id="r-5")
    assert refused.value.code == "subject_not_found"
    actions = [r.entry.action for r in desk.runtime.audit_log.list()]
    assert actions == ["pii.subject_erase", "pii.subject_erase"]
    assert desk.runtime.audit_log.verify().broken is None


@pytest.mark.parametrize(
    ("scopes", "merchant"),
    [({Scope.PII_REVEAL}, None), ({Scope.ADMIN}, None), ({Scope.PII_REVEAL}, "m_1")],
)
def test_erasure_needs_a_platform_key_with_admin_and_pii_reveal(
    desk: Desk, subjects: Subjects, scopes: set[str], merchant: str | None
) -> None:
    pay(desk, PAYER_A)
    principal = Principal("k_1", merchant, frozenset(scopes))
    with pytest.raises(Rejected) as refused:
        subjects.erase(
            principal, numbers={"card_number": PAYER_A.card}, reason=REASON, request_id="r"
        )
    assert refused.value.code == "forbidden"
    assert desk.runtime.blind_index.find("card_number", PAYER_A.card) != []


def test_a_request_needs_a_reason_and_exactly_one_well_formed_number(
    subjects: Subjects,
) -> None:
    cases = [
        ({"card_number": PAYER_A.card}, "too short", "reveal_reason_required"),
        ({"card_number": PAYER_A.card, "phone": PAYER_A.phone}, REASON, "invalid_lookup_value"),
        ({"phone": "12"}, REASON, "invalid_lookup_value"),
    ]
    for numbers, reason, code in cases:
        with pytest.raises(Rejected) as refused:
            subjects.export(OPERATOR, numbers=numbers, reason=reason, request_id="r")
        assert refused.value.code == code


def test_a_collection_plan_that_may_charge_the_card_again_holds_off_erasure(
    desk: Desk, subjects: Subjects
) -> None:
    collection = desk.runtime.collection
    plan = collection.create(
        desk.merchant_id,
        terms(method=Method.CHANNEL, start_month=parse_month("2026-04")),
        card_number=PAYER_A.card,
    )
    numbers = {"card_number": PAYER_A.card}
    exported = subjects.export(OPERATOR, numbers=numbers, reason=REASON, request_id="r-6")
    with pytest.raises(Rejected) as refused:
        subjects.erase(OPERATOR, numbers=numbers, reason=REASON, request_id="r-7")

    collection.cancel(desk.merchant_id, plan.id)
    erased = subjects.erase(OPERATOR, numbers=numbers, reason=REASON, request_id="r-8")

    assert exported["collection_plans"][0]["card_number"] == PAYER_A.card
    assert refused.value.code == "subject_plan_active"
    assert erased.objects == 1
    assert collection.get(desk.merchant_id, plan.id).card_masked == ERASED_MARK


def test_a_plan_reference_of_an_erased_payers_plan_is_refused_as_reused_not_an_error(
    desk: Desk, subjects: Subjects
) -> None:
    collection = desk.runtime.collection
    plan_terms = terms(method=Method.CHANNEL, start_month=parse_month("2026-04"))
    plan = collection.create(
        desk.merchant_id, plan_terms, card_number=PAYER_A.card, reference="lease-7"
    )
    collection.cancel(desk.merchant_id, plan.id)
    numbers = {"card_number": PAYER_A.card}
    subjects.erase(OPERATOR, numbers=numbers, reason=REASON, request_id="r-9")

    with pytest.raises(Rejected) as refused:
        collection.create(
            desk.merchant_id, plan_terms, card_number=PAYER_A.card, reference="lease-7"
        )

    assert refused.value.code == "plan_reference_reused"
