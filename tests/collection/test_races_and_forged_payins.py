"""What a review found: a pay-in naming an attempt in its metadata, a resume from a stale
read, and a cancel racing an attempt that fails."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from paycore.channels.model import Payer
from paycore.clock import ManualClock
from paycore.collection import store
from paycore.collection.model import Attempt, Method, Plan, PlanStatus
from paycore.errors import Rejected
from paycore.payments.service import PayinCommand
from paycore.runtime import Runtime
from tests.collection.conftest import CARD, balance, local, statuses, terms
from tests.conftest import postgres_only
from tests.payments.fakes import SECRET, ScriptedChannel, callback_body, declined
from tests.payments.http_conftest import Tenant, new_tenant

DUE_1 = local(2026, 2, 1)
DUE_2 = local(2026, 3, 1)
NET = 285_000


def forge_payin(runtime: Runtime, merchant_id: str, attempt_id: str) -> None:
    """A pay-in of 1 fen whose merchant wrote another attempt's id in its metadata."""
    runtime.payments.create_payin(
        PayinCommand(
            merchant_id=merchant_id,
            product="goods",
            amount=1,
            currency="CNY",
            payer=Payer(card_number=CARD),
            metadata={"collection_attempt": attempt_id},
        ),
        idempotency_key=f"forged-{attempt_id}",
    )


def test_a_pay_in_that_names_an_attempt_in_its_metadata_cannot_fail_or_pay_that_attempt(
    runtime: Runtime, agency: Tenant, alpha: ScriptedChannel
) -> None:
    plan = runtime.collection.create(agency.id, terms(method=Method.CHANNEL), card_number=CARD)
    runtime.collection.run_due(DUE_1)  # the bank is processing the tenant's pay-in
    [waiting] = runtime.collection.schedule(plan)[0].attempts
    intruder = new_tenant(runtime, "Intruder")

    alpha.then(declined("do_not_honor"))
    forge_payin(runtime, intruder.id, waiting.id)  # fails at once: would fail the attempt
    forge_payin(runtime, agency.id, waiting.id)  # processing, then succeeds: would capture it
    after_forgeries = runtime.collection.schedule(plan)[0].attempts
    forged_id = next(r for op, r in alpha.calls if op == "payin" and r != waiting.payin_id)
    for order_id, notification in ((forged_id, "n1"), (waiting.payin_id, "n2")):
        runtime.payments.handle_callback(
            channel="alpha",
            headers={"x-fake-signature": SECRET},
            body=callback_body(
                notification_id=notification,
                operation="payin",
                reference=str(order_id),
                status="succeeded",
            ),
        )

    assert [(a.status, a.payin_id) for a in after_forgeries] == [("pending", waiting.payin_id)]
    [paid] = runtime.collection.schedule(plan)[0].attempts
    assert (paid.status, paid.payin_id) == ("succeeded", waiting.payin_id)
    assert statuses(runtime, plan)[0] == "paid"
    assert balance(runtime, agency.id, "landlord1") == NET


def test_a_resume_from_a_stale_read_is_refused_with_a_code_not_a_duplicate_period(
    runtime: Runtime, agency: Tenant, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = runtime.collection.create(agency.id, terms())
    runtime.collection.pause(agency.id, plan.id)
    clock.advance((DUE_2 - clock.now()).total_seconds() + 3600)
    stale = runtime.collection.get(agency.id, plan.id)  # paused, two periods missed
    runtime.collection.resume(agency.id, plan.id)  # another request resumed it meanwhile
    reads = iter([stale])
    real_get = runtime.collection.get

    def get_stale_once(merchant_id: str | None, plan_id: str) -> Plan:
        return next(reads, None) or real_get(merchant_id, plan_id)

    monkeypatch.setattr(runtime.collection, "get", get_stale_once)

    with pytest.raises(Rejected) as refused:
        runtime.collection.resume(agency.id, plan.id)

    assert refused.value.code == "plan_active"
    assert statuses(runtime, plan) == ["skipped", "skipped", "upcoming"]


@postgres_only
def test_a_cancel_racing_a_failing_attempt_leaves_no_period_waiting_to_retry(
    runtime: Runtime, agency: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attempt fails while the cancel's transaction is open: the period must end
    cancelled, never `retrying` on a cancelled plan that nothing will ever retry."""
    plan = runtime.collection.create(agency.id, terms())
    collector = runtime.collection.collector
    claimed: list[Attempt] = []
    with monkeypatch.context() as patch:
        patch.setattr(collector, "_execute", lambda attempt, now: claimed.append(attempt))
        runtime.collection.run_due(DUE_1)  # claimed, not run yet: the attempt is in flight
    [attempt] = claimed
    cancelling, finished = threading.Event(), threading.Event()
    real_cancel_retrying = store.cancel_retrying

    def cancel_retrying_then_let_the_attempt_finish(*args: Any) -> None:
        real_cancel_retrying(*args)
        cancelling.set()
        # The attempt's finish runs now, inside the cancel's transaction (or waits for it).
        finished.wait(timeout=1)

    def fail_the_attempt() -> None:
        cancelling.wait(timeout=10)
        collector.finish(attempt.id, failure_code="insufficient_balance", now=DUE_1)
        finished.set()

    monkeypatch.setattr(store, "cancel_retrying", cancel_retrying_then_let_the_attempt_finish)
    finisher = threading.Thread(target=fail_the_attempt)
    finisher.start()
    cancelled = runtime.collection.cancel(agency.id, plan.id)
    finisher.join(timeout=10)

    assert cancelled.status is PlanStatus.CANCELLED
    assert statuses(runtime, plan) == ["cancelled"]
    assert runtime.collection.run_due(DUE_1 + timedelta(days=2)).retried == 0
