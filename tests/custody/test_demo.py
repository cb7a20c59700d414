"""The custody scene of `paycore demo`, on the scripted bank."""

from __future__ import annotations

import io

from rich.console import Console

from paycore.custody.demo import COMMISSION_BPS, show
from paycore.money import format_minor
from tests.custody.conftest import Desk
from tests.payments.fakes import succeeded


def test_the_demo_closes_a_deal_leaves_one_payin_for_the_cutoff_and_checks_the_pool(
    desk: Desk,
) -> None:
    desk.alpha.then(succeeded(), succeeded())
    out = io.StringIO()

    show(desk.runtime, Console(file=out, width=160), desk.merchant_id)

    text = out.getvalue()
    commission = 200_000 * COMMISSION_BPS // 10_000
    assert f"{format_minor(commission, 'CNY')} │ deal closed" in text
    assert f"{format_minor(200_000 - commission, 'CNY')} │ deal closed" in text
    assert "refunded by the 24:00 cut-off" in text
    assert "ok" in text
    assert desk.runtime.ledger.check().ok
    deals = desk.runtime.custody.deals(desk.merchant_id)
    assert [d.status for d in deals] == ["closed"]
    assert deals[0].commission == commission
