"""The split part of `paycore demo`, on the scripted bank."""

from __future__ import annotations

import io

from rich.console import Console

from paycore.split.demo import show
from tests.payments.fakes import succeeded
from tests.split.conftest import Shop, fund_merchant


def test_the_demo_splits_a_payin_confirms_it_and_refunds_after_split(shop: Shop) -> None:
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 5_000)  # earlier pay-ins
    shop.alpha.then(succeeded(), succeeded())  # the pay-in, then the refund
    out = io.StringIO()

    show(shop.runtime, Console(file=out, width=160), shop.merchant_id)

    text = out.getvalue()
    assert "settled, refund refunded" in text
    assert "platform commission" in text
    assert shop.splits.rules(shop.merchant_id) == []  # the demo's rule is retired
    assert shop.runtime.ledger.check().ok
