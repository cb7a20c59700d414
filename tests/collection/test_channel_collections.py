"""Collections charged to the tenant's card through a channel: success, decline, a result
that arrives later, and crashes between the bank's yes and the landlord's money."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from paycore.channels.model import PayinRequest
from paycore.collection.model import LEASE_S, Method
from paycore.payments.model import OrderKind
from paycore.runtime import Runtime
from tests.collection.conftest import CARD, balance, event_types, local, statuses, terms
from tests.payments.fakes import SECRET, ScriptedChannel, callback_body, declined, succeeded
from tests.payments.http_conftest import Tenant, new_tenant

DUE_1 = local(2026, 2, 1)
NET = 285_000  # 300,000 less the agency's 5% service fee
PLATFORM_FEE = 3_000  # the platform's 1% on the pay-in


@pytest.fixture
def agency(runtime: Runtime) -> Tenant:
    """A merchant paying the platform 1% on pay-ins, with an empty wallet."""
    return new_tenant(runtime, "Agency", fee_bps=100)


def payins(alpha: ScriptedChannel) -> list[str]:
    return [reference for operation, reference in alpha.calls if operation == "payin"]


def test_a_card_collection_charges_the_tenant_and_pays_the_landlord_net_of_fees(
    runtime: Runtime, agency: Tenant, alpha: ScriptedChannel, engine: Engine
) -> None:
    plan = runtime.collection.create(agency.id, terms(method=Method.CHANNEL), card_number=CARD)
    alpha.then(succeeded())

    runtime.collection.run_due(DUE_1)
    [line, *_] = runtime.collection.schedule(plan)
    [attempt] = line.attempts
    assert attempt.payin_id is not None
    order = runtime.payments.get(merchant_id=agency.id, order_id=attempt.payin_id)

    assert line.status == "paid"
    assert (order.amount, order.product, order.kind) == (300_000, "rent", OrderKind.PAYIN)
    request = alpha.requests[order.id]
    assert isinstance(request, PayinRequest) and request.payer.card_number == CARD
    assert balance(runtime, agency.id, "landlord1") == NET
    assert balance(runtime, agency.id, None) == 300_000 - PLATFORM_FEE - NET
    assert plan.card_masked == "622202*********0123"
    assert plan.card_enc is not None and CARD not in plan.card_enc
    assert event_types(engine, plan.id) == ["collection.plan_created", "collection.succeeded"]
    assert runtime.ledger.check().ok


def test_a_declined_card_schedules_a_retry_with_the_banks_reason(
    runtime: Runtime, agency: Tenant, alpha: ScriptedChannel
) -> None:
    plan = runtime.collection.create(agency.id, terms(method=Method.CHANNEL), card_number=CARD)
    alpha.then(declined("insufficient_funds"))

    runtime.collection.run_due(DUE_1)
    [retrying, *_] = runtime.collection.schedule(plan)
    alpha.then(succeeded())
    runtime.collection.run_due(DUE_1 + timedelta(days=1))
    [paid, *_] = runtime.collection.schedule(plan)

    assert retrying.status == "retrying", retrying
    assert [a.failure_code for a in retrying.attempts] == ["insufficient_funds"]
    assert paid.status == "paid" and len(set(payins(alpha))) == 2
    assert balance(runtime, agency.id, "landlord1") == NET


def test_a_pay_in_confirmed_later_by_callback_pays_the_landlord_then(
    runtime: Runtime, agency: Tenant, alpha: ScriptedChannel
) -> None:
    plan = runtime.collection.create(agency.id, terms(method=Method.CHANNEL), card_number=CARD)

    runtime.collection.run_due(DUE_1)  # the bank accepts: processing
    waiting = runtime.collection.schedule(plan)[0]
    [payin_id] = payins(alpha)
    runtime.payments.handle_callback(
        channel="alpha",
        headers={"x-fake-signature": SECRET},
        body=callback_body(
            notification_id="n1", operation="payin", reference=payin_id, status="succeeded"
        ),
    )

    assert waiting.status == "collecting" and waiting.attempts[0].status == "pending"
    assert statuses(runtime, plan)[0] == "paid"
    assert balance(runtime, agency.id, "landlord1") == NET


def test_a_crash_between_the_pay_in_and_the_landlord_transfer_resumes_without_paying_twice(
    runtime: Runtime, agency: Tenant, alpha: ScriptedChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = runtime.collection.create(agency.id, terms(method=Method.CHANNEL), card_number=CARD)
    collector = runtime.collection.collector
    alpha.then(succeeded())

    def crash(*args: object) -> str:
        raise RuntimeError("killed before the landlord transfer")

    with monkeypatch.context() as patch:
        patch.setattr(collector, "pay_landlord_step", crash)
        crashed = runtime.collection.run_due(DUE_1)
    left = runtime.collection.schedule(plan)[0].attempts[0].status
    within_lease = runtime.collection.run_due(DUE_1 + timedelta(seconds=1))
    resumed = runtime.collection.run_due(DUE_1 + timedelta(seconds=LEASE_S))
    again = runtime.collection.run_due(DUE_1 + timedelta(seconds=3 * LEASE_S))

    assert crashed.errors and left == "captured"
    assert balance(runtime, agency.id, "landlord1") == NET
    assert (within_lease.resumed, resumed.resumed, again.resumed) == (0, 1, 0)
    assert len(payins(alpha)) == 1
    assert statuses(runtime, plan)[0] == "paid"


def test_a_crash_right_after_the_bank_said_yes_resumes_by_idempotency_key_not_a_new_charge(
    runtime: Runtime, agency: Tenant, alpha: ScriptedChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = runtime.collection.create(agency.id, terms(method=Method.CHANNEL), card_number=CARD)
    collector = runtime.collection.collector
    alpha.then(succeeded())

    def crash(*args: object) -> None:
        raise RuntimeError("killed before the attempt learnt its pay-in")

    with monkeypatch.context() as patch:
        patch.setattr(collector, "on_payin", crash)
        runtime.collection.run_due(DUE_1)
    left = runtime.collection.schedule(plan)[0].attempts[0]
    runtime.collection.run_due(DUE_1 + timedelta(seconds=LEASE_S))

    assert (left.status, left.payin_id) == ("running", None)
    assert len(payins(alpha)) == 1
    assert statuses(runtime, plan)[0] == "paid"
    assert balance(runtime, agency.id, "landlord1") == NET
    assert len(runtime.payments.list_orders(merchant_id=agency.id, kind=OrderKind.PAYIN)) == 1
