"""A card collection while the platform has frozen the agency's or the landlord's wallet.

The tenant's card was charged: the pay-in is recorded (in the agency's wallet even when
frozen). The landlord's money waits there while either wallet is frozen, and moves on
once the platform unfreezes it; nothing raises, nothing is paid twice.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from paycore.collection.model import LEASE_S, Method
from paycore.consistency.service import FlowCheck
from paycore.ledger.model import AccountStatus
from paycore.payments import bookkeeping as books
from paycore.runtime import Runtime
from paycore.wallets.model import wallet_account
from tests.collection.conftest import CARD, balance, local, statuses, terms
from tests.payments.fakes import ScriptedChannel, succeeded
from tests.payments.http_conftest import Tenant, new_tenant

DUE_1 = local(2026, 2, 1)
NET = 285_000  # 300,000 less the agency's 5% service fee
PLATFORM_FEE = 3_000  # the platform's 1% on the pay-in


@pytest.fixture
def agency(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Agency", fee_bps=100)


@pytest.mark.parametrize("frozen", ["agency", "landlord"])
def test_a_collection_into_a_frozen_wallet_waits_and_pays_the_landlord_after_the_unfreeze(
    runtime: Runtime, agency: Tenant, alpha: ScriptedChannel, frozen: str
) -> None:
    plan = runtime.collection.create(agency.id, terms(method=Method.CHANNEL), card_number=CARD)
    account_id = (
        books.wallet_account(agency.id, "CNY")
        if frozen == "agency"
        else wallet_account(agency.id, "landlord1", "CNY")
    )
    runtime.ledger.set_account_status(account_id, AccountStatus.FROZEN)
    alpha.then(succeeded())

    runtime.collection.run_due(DUE_1)

    [waiting, *_] = runtime.collection.schedule(plan)
    assert waiting.status == "collecting"
    assert [a.status for a in waiting.attempts] == ["captured"]
    assert [a.failure_code for a in waiting.attempts] == ["wallet_frozen"]
    assert balance(runtime, agency.id, None) == 300_000 - PLATFORM_FEE  # charged, held
    assert balance(runtime, agency.id, "landlord1") == 0

    runtime.ledger.set_account_status(account_id, AccountStatus.ACTIVE)
    runtime.collection.run_due(DUE_1 + timedelta(seconds=LEASE_S + 1))

    assert statuses(runtime, plan)[0] == "paid"
    assert balance(runtime, agency.id, "landlord1") == NET
    assert balance(runtime, agency.id, None) == 300_000 - PLATFORM_FEE - NET
    assert runtime.ledger.check().ok
    report = FlowCheck(runtime.engine, runtime.clock).run()
    assert report.ok, report.disagreements
